// Package objectstore is sov's S3-compatible object storage: SigV4
// authentication on identity's EC2 credentials, buckets owned by projects,
// objects as files on local disk with their metadata in the store.
package objectstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/service"
	"github.com/sovcloud/sov/internal/store"
)

// Config configures the S3 service.
type Config struct {
	// DataDir holds the object data.
	DataDir string
	// Region is what GetBucketLocation answers.
	Region string
	// Domain enables virtual-host style: "<bucket>.<Domain>" names a bucket.
	Domain string
	// QuotaBytes and QuotaObjects limit what one project stores; 0 is no limit.
	QuotaBytes, QuotaObjects int64
	// MaxObjectSize is the largest single PUT (5 GiB in AWS).
	MaxObjectSize int64
	// SigV2 accepts AWS Signature Version 2 (for old clients); off, such
	// requests answer InvalidRequest.
	SigV2 bool
	// PublicURL is where clients reach the S3 listener, for the catalog.
	PublicURL string
	// WebsiteDomain, when set, makes "<bucket>.<WebsiteDomain>" name a
	// bucket on the website endpoint.
	WebsiteDomain string
	// Reserved names buckets only one project may create (bucket name →
	// project id): sov's own, such as the volume backups'.
	Reserved map[string]string
}

// Server serves the S3 API.
type Server struct {
	cfg   Config
	db    *store.DB
	data  *blobs
	creds CredentialLookup
	kek   *secrets.Keyring // seals the data keys of SSE-S3
	log   *slog.Logger
}

// New opens the object store and removes data that no committed metadata
// names (left by a crash between writing data and committing metadata);
// data keys sealed under an older master key are resealed under kek's
// primary.
func New(ctx context.Context, cfg Config, db *store.DB, creds CredentialLookup, kek *secrets.Keyring, log *slog.Logger) (*Server, error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	if cfg.MaxObjectSize == 0 {
		cfg.MaxObjectSize = 5 << 30
	}
	data, err := openBlobs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, db: db, data: data, creds: creds, kek: kek, log: log}
	if err := s.collectGarbage(ctx); err != nil {
		return nil, err
	}
	if err := s.resealDataKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Name is the service's name.
func (s *Server) Name() string { return "object-store" }

// Catalog is the S3 endpoint, under the type SCS (scs-0123 v2) names.
func (s *Server) Catalog() []service.CatalogEntry {
	return []service.CatalogEntry{{Type: "object-store-s3", Name: "s3", URL: s.cfg.PublicURL}}
}

// collectGarbage deletes blob files that no object or part references.
func (s *Server) collectGarbage(ctx context.Context) error {
	used := map[string]bool{}
	for _, q := range []string{`SELECT blob FROM objects WHERE blob <> ''`, `SELECT blob FROM parts`} {
		rows, err := s.db.Query(ctx, q)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			used[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	n, err := s.data.gc(func(id string) bool { return used[id] })
	if n > 0 {
		s.log.Info("removed orphaned object data", "files", n)
	}
	return err
}

// request is one S3 request being served.
type request struct {
	w      http.ResponseWriter
	r      *http.Request
	q      url.Values
	sig    *signed
	id     string
	bucket string
	key    string
	// objectTags are the tags of the object being authorized, requestTags
	// (when not nil) the tags the request sets, for policy conditions.
	objectTags  string
	requestTags *string
}

type handler func(*Server, *request) error

// startResponse gives a response its request id (returned) and server name.
func startResponse(w http.ResponseWriter) string {
	var b [8]byte
	rand.Read(b[:])
	id := strings.ToUpper(hex.EncodeToString(b[:]))
	w.Header().Set("X-Amz-Request-Id", id)
	w.Header().Set("Server", "sov")
	return id
}

// ServeHTTP serves one S3 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	id := startResponse(w)
	req := &request{w: w, r: r, q: r.URL.Query(), id: id}
	req.bucket, req.key = s.splitPath(r)
	op, h := route(req)
	r.Pattern = "s3 " + op
	if headerSize(r) > maxHeaderBytes {
		s.writeError(w, r, id, s3err(http.StatusBadRequest, "RequestHeaderSectionTooLarge", "Your request header section exceeds the maximum allowed size."))
		return
	}
	if r.Method == http.MethodOptions {
		if err := s.preflight(req); err != nil {
			s.writeError(w, r, id, err)
		}
		return
	}
	sig, err := s.authenticate(r)
	if err != nil {
		s.writeError(w, r, id, err)
		return
	}
	req.sig = sig
	s.corsHeaders(req)
	if err := h(s, req); err != nil {
		s.writeError(w, r, id, err)
	}
}

// maxHeaderBytes is S3's limit on the size of request headers.
const maxHeaderBytes = 16 << 10

func headerSize(r *http.Request) int {
	n := len(r.URL.RawQuery)
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// splitPath finds bucket and key, virtual-host style first, then path style.
func (s *Server) splitPath(r *http.Request) (bucket, key string) {
	if s.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if b, ok := strings.CutSuffix(host, "."+s.cfg.Domain); ok && b != "" {
			return b, strings.TrimPrefix(r.URL.Path, "/")
		}
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key
}
