package image

import (
	"errors"
	"net/http"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

type member struct {
	ImageID, MemberID, Status string
	Created, Updated          int64
}

func memberJSON(m *member) map[string]any {
	return map[string]any{"image_id": m.ImageID, "member_id": m.MemberID, "status": m.Status,
		"created_at": time.UnixMicro(m.Created).UTC().Format(timeFormat), "updated_at": time.UnixMicro(m.Updated).UTC().Format(timeFormat),
		"schema": "/v2/schemas/member"}
}

// sharedImage loads a shared image for its owner's member management.
func (s *Service) sharedImage(r *http.Request, c *policy.Credentials) (*image, error) {
	img, err := s.ownedImage(r, c)
	if err != nil {
		return nil, err
	}
	if img.Visibility != "shared" {
		return nil, errorf(http.StatusForbidden, "Only shared images have members.")
	}
	return img, nil
}

func (s *Service) getMember(r *http.Request, imageID, memberID string) (*member, error) {
	m := &member{}
	err := store.Row(s.db.QueryRow(r.Context(), `SELECT image_id, member_id, status, created_at, updated_at FROM image_members
		WHERE image_id = ? AND member_id = ?`, imageID, memberID).Scan(&m.ImageID, &m.MemberID, &m.Status, &m.Created, &m.Updated))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "%s is not a member of image %s", memberID, imageID)
	}
	return m, err
}

func (s *Service) addMember(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.sharedImage(r, c)
	if err != nil {
		return err
	}
	var body struct {
		Member *string `json:"member"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Member == nil || *body.Member == "" {
		return errorf(http.StatusBadRequest, "Member to be added not specified")
	}
	now := time.Now().UnixMicro()
	m := &member{ImageID: img.ID, MemberID: *body.Member, Status: "pending", Created: now, Updated: now}
	_, err = s.db.Exec(r.Context(), `INSERT INTO image_members (image_id, member_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		m.ImageID, m.MemberID, m.Status, m.Created, m.Updated)
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, "Member %s already exists on image %s.", m.MemberID, img.ID)
	}
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, memberJSON(m))
	return nil
}

func (s *Service) listMembers(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return err
	}
	if img.Visibility != "shared" {
		return errorf(http.StatusForbidden, "Only shared images have members.")
	}
	q, args := `SELECT image_id, member_id, status, created_at, updated_at FROM image_members WHERE image_id = ?`, []any{img.ID}
	if img.Owner != c.ProjectID && !isAdmin(c) {
		q += ` AND member_id = ?` // a member sees only itself
		args = append(args, c.ProjectID)
	}
	rows, err := s.db.Query(r.Context(), q+` ORDER BY member_id`, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	out := []map[string]any{}
	for rows.Next() {
		m := &member{}
		if err := rows.Scan(&m.ImageID, &m.MemberID, &m.Status, &m.Created, &m.Updated); err != nil {
			return err
		}
		out = append(out, memberJSON(m))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"members": out, "schema": "/v2/schemas/members"})
	return nil
}

func (s *Service) showMember(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return err
	}
	memberID := r.PathValue("member_id")
	if img.Owner != c.ProjectID && memberID != c.ProjectID && !isAdmin(c) {
		return errorf(http.StatusNotFound, "%s is not a member of image %s", memberID, img.ID)
	}
	m, err := s.getMember(r, img.ID, memberID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, memberJSON(m))
	return nil
}

// updateMember lets the member project accept or reject a shared image.
func (s *Service) updateMember(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return err
	}
	memberID := r.PathValue("member_id")
	if memberID != c.ProjectID || !allowed(c, "modify_member", memberID) {
		return errorf(http.StatusForbidden, "Only the member project itself can change its membership status.")
	}
	var body struct {
		Status string `json:"status"`
	}
	if err := httpapi.DecodeJSON(r, &body); err != nil {
		return err
	}
	if body.Status != "pending" && body.Status != "accepted" && body.Status != "rejected" {
		return errorf(http.StatusBadRequest, "Invalid status: %q", body.Status)
	}
	m, err := s.getMember(r, img.ID, memberID)
	if err != nil {
		return err
	}
	m.Status, m.Updated = body.Status, time.Now().UnixMicro()
	if _, err := s.db.Exec(r.Context(), `UPDATE image_members SET status = ?, updated_at = ? WHERE image_id = ? AND member_id = ?`,
		m.Status, m.Updated, m.ImageID, m.MemberID); err != nil {
		return err
	}
	httpapi.WriteJSON(w, http.StatusOK, memberJSON(m))
	return nil
}

func (s *Service) removeMember(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.sharedImage(r, c)
	if err != nil {
		return err
	}
	if err := store.Affected(s.db.Exec(r.Context(), `DELETE FROM image_members WHERE image_id = ? AND member_id = ?`, img.ID, r.PathValue("member_id"))); err != nil {
		return errorf(http.StatusNotFound, "%s is not a member of image %s", r.PathValue("member_id"), img.ID)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
