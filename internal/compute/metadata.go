package compute

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
)

// memberServer loads the server in the path for a change the policy's
// action allows (a member of its project, or an admin).
func (s *Service) memberServer(q *request, action string) (*server, error) {
	srv, err := s.serverFor(q)
	if err != nil {
		return nil, err
	}
	if err := q.enforce(action, srv.ProjectID); err != nil {
		return nil, err
	}
	return srv, nil
}

func (s *Service) saveMetadata(q *request, srv *server) error {
	if err := validMetadata(srv.Metadata); err != nil {
		return err
	}
	raw, _ := json.Marshal(srv.Metadata)
	_, err := s.db.Exec(q.r.Context(), `UPDATE servers SET metadata = ?, updated_at = ? WHERE id = ?`, string(raw), time.Now().UnixMicro(), srv.ID)
	return err
}

func validMetadata(m map[string]string) error {
	if len(m) > quotaMetadataItems {
		return errorf(http.StatusForbidden, "Quota exceeded for metadata_items: Requested %d, but the limit is %d.", len(m), quotaMetadataItems)
	}
	for k, v := range m {
		if k == "" || len(k) > 255 || len(v) > 255 {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute metadata: keys and values are 1 to 255 characters.")
		}
	}
	return nil
}

func (s *Service) showMetadata(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"metadata": srv.Metadata})
	return nil
}

// setMetadata serves POST (merge) and PUT (replace) /servers/{id}/metadata.
func (s *Service) setMetadata(replace bool) handler {
	return func(q *request) error {
		srv, err := s.memberServer(q, "os_compute_api:server-metadata:update")
		if err != nil {
			return err
		}
		var body struct {
			Metadata map[string]string `json:"metadata"`
		}
		if err := httpapi.DecodeJSON(q.r, &body); err != nil {
			return err
		}
		if body.Metadata == nil {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute metadata: 'metadata' is a required property.")
		}
		if replace {
			srv.Metadata = map[string]string{}
		}
		for k, v := range body.Metadata {
			srv.Metadata[k] = v
		}
		if err := s.saveMetadata(q, srv); err != nil {
			return err
		}
		httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"metadata": srv.Metadata})
		return nil
	}
}

func (s *Service) showMetadataItem(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	key := q.r.PathValue("key")
	v, ok := srv.Metadata[key]
	if !ok {
		return errorf(http.StatusNotFound, "Metadata item was not found")
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
	return nil
}

func (s *Service) setMetadataItem(q *request) error {
	srv, err := s.memberServer(q, "os_compute_api:server-metadata:update")
	if err != nil {
		return err
	}
	key := q.r.PathValue("key")
	var body struct {
		Meta map[string]string `json:"meta"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	v, ok := body.Meta[key]
	if !ok || len(body.Meta) != 1 {
		return errorf(http.StatusBadRequest, "Request body and URI mismatch")
	}
	srv.Metadata[key] = v
	if err := s.saveMetadata(q, srv); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"meta": map[string]string{key: v}})
	return nil
}

func (s *Service) deleteMetadataItem(q *request) error {
	srv, err := s.memberServer(q, "os_compute_api:server-metadata:update")
	if err != nil {
		return err
	}
	key := q.r.PathValue("key")
	if _, ok := srv.Metadata[key]; !ok {
		return errorf(http.StatusNotFound, "Metadata item was not found")
	}
	delete(srv.Metadata, key)
	if err := s.saveMetadata(q, srv); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// updateServer serves PUT /servers/{id}: renaming a server.
func (s *Service) updateServer(q *request) error {
	srv, err := s.memberServer(q, "os_compute_api:servers:update")
	if err != nil {
		return err
	}
	var body struct {
		Server struct {
			Name *string `json:"name"`
		} `json:"server"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	if n := body.Server.Name; n != nil {
		if !serverNameRE.MatchString(*n) || strings.TrimSpace(*n) == "" {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute name.")
		}
		srv.Name = *n
		if _, err := s.db.Exec(q.r.Context(), `UPDATE servers SET name = ?, updated_at = ? WHERE id = ?`, srv.Name, time.Now().UnixMicro(), srv.ID); err != nil {
			return err
		}
	}
	atts, err := s.attachments(q.r.Context(), srv)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"server": s.serverJSON(q, srv, true, atts[srv.ID])})
	return nil
}
