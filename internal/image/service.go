// Package image is sov's Glance v2-compatible image service: image
// records with arbitrary properties, visibility (private, public, shared
// with members, community), protection, tags, and image data on local disk
// with Glance's checksum and os_hash (sha512).
package image

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// Service serves the image API.
type Service struct {
	db       *store.DB
	dir      string
	identity Identity
	log      *slog.Logger
	url      string // public base URL, e.g. http://127.0.0.1:5000/image
}

// New opens the image service; image data lives under dir.
func New(db *store.DB, dir, publicURL string, id Identity, log *slog.Logger) (*Service, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	if n := removeAbandonedUploads(filepath.Join(dir, "tmp")); n > 0 {
		log.Info("removed the temporary files of interrupted image uploads", "files", n)
	}
	return &Service{db: db, dir: dir, identity: id, log: log, url: publicURL + "/image"}, nil
}

// Identity is what the image service needs of the identity service: the
// caller of a request, and the unified limits its quotas are.
type Identity interface {
	httpapi.Authenticator
	RegisterLimit(ctx context.Context, serviceType, resource string, def int64, description string) error
	Limit(ctx context.Context, serviceType, project, resource string) (int64, bool, error)
}

// Name is the service's name.
func (s *Service) Name() string { return "image" }

// Catalog is the image endpoint.
func (s *Service) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "image", Name: "glance", URL: s.url}}
}

// Start registers the image limits with the identity service and, once,
// fills the list columns of images stored before they existed.
func (s *Service) Start(ctx context.Context) error {
	if err := s.backfillListColumns(ctx); err != nil {
		return err
	}
	return s.registerLimits(ctx)
}

// backfillListColumns sets hidden and the tag rows of every image from
// its document, in one transaction, the first time a store has them.
func (s *Service) backfillListColumns(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		var done int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM backfills WHERE name = 'image_list_columns'`).Scan(&done); err != nil || done > 0 {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT doc FROM images`)
		if err != nil {
			return err
		}
		all, err := store.Collect(rows, func(row store.Scanner) (*image, error) {
			var doc string
			img := &image{}
			if err := row.Scan(&doc); err != nil {
				return nil, err
			}
			return img, json.Unmarshal([]byte(doc), img)
		})
		if err != nil {
			return err
		}
		for _, img := range all {
			if _, err := tx.Exec(ctx, `UPDATE images SET hidden = ? WHERE id = ?`, img.Hidden, img.ID); err != nil {
				return err
			}
			if err := saveTags(ctx, tx, img); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `INSERT INTO backfills (name) VALUES ('image_list_columns')`)
		return err
	})
}

func errorf(code int, format string, a ...any) error { return httpapi.Errorf(code, format, a...) }

// writeError answers with Glance's error body: "<status>\n\n<message>\n\n   ".
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := httpapi.Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		msg = "You are not authorized to complete this action."
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "The resource could not be found."
	case p.Status == http.StatusConflict:
		msg = "There was a conflict when trying to complete your request."
	default:
		s.log.Error("image: internal error", "request_id", httpapi.RequestID(r.Context()), "err", err)
		msg = "Internal server error. Request id: " + httpapi.RequestID(r.Context())
	}
	if p.Status == http.StatusServiceUnavailable {
		s.log.Error("image: store unavailable", "request_id", httpapi.RequestID(r.Context()), "err", err)
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(p.Status)
	fmt.Fprintf(w, "%d %s\n\n%s\n\n   ", p.Status, http.StatusText(p.Status), msg)
}

type authedFunc func(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error

// authed runs h for a caller with a project-scoped token (authenticated
// once, by httpapi.RequireProject).
func (s *Service) authed(h authedFunc) http.Handler {
	return httpapi.RequireProject(s.identity, errorf(http.StatusForbidden, "The image API needs a project-scoped token."), s.writeError,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r, httpapi.CredentialsFrom(r.Context())); err != nil {
				s.writeError(w, r, err)
			}
		}))
}

// Register adds the image API to mux under /image.
func (s *Service) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /image", s.versions)
	mux.HandleFunc("GET /image/{$}", s.versions)
	mux.HandleFunc("GET /image/versions", s.versions)
	mux.Handle("GET /image/v2/images", s.authed(s.listImages))
	mux.Handle("POST /image/v2/images", s.authed(s.createImage))
	mux.Handle("GET /image/v2/images/{image_id}", s.authed(s.showImage))
	mux.Handle("PATCH /image/v2/images/{image_id}", s.authed(s.updateImage))
	mux.Handle("DELETE /image/v2/images/{image_id}", s.authed(s.deleteImage))
	mux.Handle("PUT /image/v2/images/{image_id}/file", s.authed(s.uploadData))
	mux.Handle("GET /image/v2/images/{image_id}/file", s.authed(s.downloadData))
	mux.Handle("POST /image/v2/images/{image_id}/actions/deactivate", s.authed(s.setActive(false)))
	mux.Handle("POST /image/v2/images/{image_id}/actions/reactivate", s.authed(s.setActive(true)))
	mux.Handle("PUT /image/v2/images/{image_id}/tags/{tag}", s.authed(s.addTag))
	mux.Handle("DELETE /image/v2/images/{image_id}/tags/{tag}", s.authed(s.removeTag))
	mux.Handle("GET /image/v2/images/{image_id}/members", s.authed(s.listMembers))
	mux.Handle("POST /image/v2/images/{image_id}/members", s.authed(s.addMember))
	mux.Handle("GET /image/v2/images/{image_id}/members/{member_id}", s.authed(s.showMember))
	mux.Handle("PUT /image/v2/images/{image_id}/members/{member_id}", s.authed(s.updateMember))
	mux.Handle("DELETE /image/v2/images/{image_id}/members/{member_id}", s.authed(s.removeMember))
	mux.HandleFunc("GET /image/v2/schemas/image", s.imageSchema)
	mux.HandleFunc("GET /image/v2/schemas/images", s.imageSchema)
	mux.HandleFunc("/image/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, errorf(http.StatusNotFound, "The resource could not be found."))
	})
}

func (s *Service) versions(w http.ResponseWriter, r *http.Request) {
	var vs []map[string]any
	for _, v := range []string{"v2.16", "v2.15", "v2.9", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0"} {
		status := "SUPPORTED"
		if v == "v2.16" {
			status = "CURRENT"
		}
		vs = append(vs, map[string]any{"id": v, "status": status, "links": []map[string]string{{"rel": "self", "href": s.url + "/v2/"}}})
	}
	httpapi.WriteJSON(w, http.StatusMultipleChoices, map[string]any{"versions": vs})
}

func (s *Service) imageSchema(w http.ResponseWriter, r *http.Request) {
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{"name": "image", "additionalProperties": map[string]string{"type": "string"},
		"properties": map[string]any{"id": map[string]string{"type": "string"}, "name": map[string]any{"type": []string{"null", "string"}}}})
}
