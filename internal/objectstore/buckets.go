package objectstore

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

// bucket is a bucket's metadata row.
type bucket struct {
	Name, ProjectID, Versioning, ACL, Policy, CORS, Tags string
	Created                                              int64
	// ObjectLock is the object lock configuration (JSON), "" when off.
	ObjectLock string
	// PublicAccessBlock (JSON, "" for none) and Ownership ("" is ObjectWriter).
	PublicAccessBlock, Ownership string
	// Encryption is the default encryption (JSON), "" for none.
	Encryption string
	// Website is the website configuration (XML), "" for none.
	Website string
}

const bucketColumns = `name, project_id, created_at, versioning, acl, policy, cors, tags, object_lock, public_access_block, ownership, encryption, website`

func (s *Server) getBucket(ctx context.Context, name string) (*bucket, error) {
	b := &bucket{}
	err := store.Row(s.db.QueryRow(ctx, `SELECT `+bucketColumns+` FROM buckets WHERE name = ?`, name).
		Scan(&b.Name, &b.ProjectID, &b.Created, &b.Versioning, &b.ACL, &b.Policy, &b.CORS, &b.Tags, &b.ObjectLock, &b.PublicAccessBlock, &b.Ownership, &b.Encryption, &b.Website))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchBucket
	}
	return b, err
}

// The kinds of access an operation needs.
const (
	accessRead  = "read"
	accessWrite = "write"
	accessAdmin = "admin" // bucket configuration: owner only
)

// bucketFor loads the request's bucket and checks that the caller may do
// action (an s3:* action name, for bucket policies) needing access.
func (s *Server) bucketFor(req *request, access, action string) (*bucket, error) {
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return nil, err
	}
	return b, s.authorize(req, b, req.key, access, action, "")
}

// authorize is the one place that decides whether the caller may do action
// on the bucket, or on the object key in it (whose ACL is objectACL): every
// operation that touches several objects (multi-delete, copy sources) asks
// it once per object. A Deny of the bucket policy holds for everyone, the
// owning project included, except for the bucket's configuration
// (accessAdmin), so the owner can always repair its policy. The owning
// project may otherwise do anything its role allows; others only what the
// policy or an ACL (the bucket's for the bucket, the object's for reading
// an object or its ACL) grants.
func (s *Server) authorize(req *request, b *bucket, key, access, action, objectACL string) error {
	decision := policyNone
	if access != accessAdmin {
		resource := "arn:aws:s3:::" + b.Name
		if key != "" {
			resource += "/" + key
		}
		if b.Policy != "" {
			decision = policyDecision(b.Policy, req.sig.owner, action, resource, func() requestContext { return s.requestContext(req) })
		}
	}
	if decision == policyDeny {
		return errAccessDenied
	}
	owner := req.sig.owner
	if owner != nil && owner.ProjectID == b.ProjectID {
		if access != accessRead && owner.ReadOnly {
			return errAccessDenied
		}
		return nil
	}
	if decision == policyAllow && !(b.publicAccess().RestrictPublicBuckets && policyIsPublic(b.Policy)) {
		return nil
	}
	// As in AWS, a bucket's ACL opens the bucket (its listing, writing its
	// objects), an object's ACL the object: a public-read bucket does not
	// expose private objects.
	if perm, onObject := aclPermission(action); perm != "" && b.Ownership != ownerEnforced && !(owner != nil && owner.ReadOnly && access != accessRead) {
		stored := b.ACL
		if onObject {
			stored = objectACL
		}
		if aclGrantsAccess(stored, owner, perm, !b.publicAccess().IgnorePublicAcls) {
			return nil
		}
	}
	return errAccessDenied
}

// requireOwner refuses anonymous requests with AccessDenied.
func requireOwner(req *request) (*Owner, error) {
	if req.sig.owner == nil {
		return nil, errAccessDenied
	}
	return req.sig.owner, nil
}

var bucketNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
var ipLikeRE = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)

func validBucketName(name string) bool {
	return bucketNameRE.MatchString(name) && !ipLikeRE.MatchString(name) && !regexp.MustCompile(`\.\.|\.-|-\.`).MatchString(name)
}

func (s *Server) createBucket(req *request) error {
	owner, err := requireOwner(req)
	if err != nil {
		return err
	}
	if owner.ReadOnly {
		return errAccessDenied
	}
	if !validBucketName(req.bucket) {
		return errInvalidBucketName
	}
	if p, ok := s.cfg.Reserved[req.bucket]; ok && p != owner.ProjectID {
		return errBucketExists
	}
	if err := drainConfig(req); err != nil {
		return err
	}
	acl, err := aclFromHeaders(req.r.Header)
	if err != nil {
		return err
	}
	// Object lock at creation: versioning comes with it, for good.
	lock, versioning := "", ""
	switch v := strings.ToLower(req.r.Header.Get("X-Amz-Bucket-Object-Lock-Enabled")); v {
	case "true":
		lock, versioning = `{"enabled":true}`, "Enabled"
	case "", "false":
	default:
		return invalidArgument("x-amz-bucket-object-lock-enabled must be true or false.")
	}
	ctx := req.r.Context()
	_, err = s.db.Exec(ctx, `INSERT INTO buckets (name, project_id, created_at, acl, versioning, object_lock) VALUES (?, ?, ?, ?, ?, ?)`,
		req.bucket, owner.ProjectID, time.Now().UnixMicro(), acl, versioning, lock)
	if errors.Is(err, store.ErrConflict) {
		b, gerr := s.getBucket(ctx, req.bucket)
		if gerr == nil && b.ProjectID == owner.ProjectID {
			return errBucketAlreadyOwned
		}
		return errBucketExists
	}
	if err != nil {
		return err
	}
	req.w.Header().Set("Location", "/"+req.bucket)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// drainConfig reads and checks an optional CreateBucketConfiguration body.
func drainConfig(req *request) error {
	body, err := readSmallBody(req, 64<<10)
	if err != nil || len(body) == 0 {
		return err
	}
	var cfg struct {
		LocationConstraint string
	}
	if xml.Unmarshal(body, &cfg) != nil {
		return errMalformedXML
	}
	return nil
}

// readSmallBody reads a configuration body of at most limit bytes,
// decoding aws-chunked bodies and checking a signed payload hash.
func readSmallBody(req *request, limit int64) ([]byte, error) {
	body, err := payloadReader(req)
	if err != nil {
		return nil, err
	}
	d := newDigests("", req.sig.payload != unsignedPayload && !isStreaming(req.sig.payload))
	b, err := io.ReadAll(io.TeeReader(io.LimitReader(body, limit+1), d))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, s3err(http.StatusBadRequest, "MaxMessageLengthExceeded", "Your request was too big.")
	}
	return b, checkPayloadHash(req, d)
}

func (s *Server) headBucket(req *request) error {
	if _, err := s.bucketFor(req, accessRead, "s3:ListBucket"); err != nil {
		return err
	}
	req.w.Header().Set("X-Amz-Bucket-Region", s.cfg.Region)
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) deleteBucket(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:DeleteBucket")
	if err != nil {
		return err
	}
	ctx := req.r.Context()
	// Objects keep a bucket; incomplete multipart uploads go with it, as in AWS.
	var freed []string
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		freed = nil
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM objects WHERE bucket = ?`, b.Name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errBucketNotEmpty
		}
		rows, err := tx.Query(ctx, `SELECT p.size, p.blob FROM parts p JOIN uploads u ON p.upload_id = u.id WHERE u.bucket = ?`, b.Name)
		if err != nil {
			return err
		}
		var released int64
		for rows.Next() {
			var size int64
			var blob string
			if err := rows.Scan(&size, &blob); err != nil {
				rows.Close()
				return err
			}
			released += size
			freed = append(freed, blob)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM uploads WHERE bucket = ?`, b.Name); err != nil {
			return err
		}
		if err := s.addUsage(ctx, tx, b.ProjectID, -released, 0); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM buckets WHERE name = ?`, b.Name)
		return err
	})
	if errors.Is(err, store.ErrConflict) {
		return errBucketNotEmpty // an object arrived meanwhile
	}
	if err != nil {
		return err
	}
	for _, id := range freed {
		s.data.remove(id)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

type listBucketsResult struct {
	XMLName           xml.Name `xml:"ListAllMyBucketsResult"`
	NS                string   `xml:"xmlns,attr"`
	Owner             owner
	Buckets           []bucketEntry `xml:"Buckets>Bucket"`
	ContinuationToken string        `xml:",omitempty"`
	Prefix            string        `xml:",omitempty"`
}

type owner struct {
	ID          string
	DisplayName string
}

type bucketEntry struct {
	Name         string
	CreationDate string
	BucketRegion string
}

// listBuckets serves ListBuckets, with the max-buckets, continuation-token
// and prefix of its paginated form.
func (s *Server) listBuckets(req *request) error {
	o, err := requireOwner(req)
	if err != nil {
		return err
	}
	max := 10000
	if v := req.q.Get("max-buckets"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 1 || max > 10000 {
			return invalidArgument("max-buckets must be an integer between 1 and 10000.")
		}
	}
	after := ""
	if tok := req.q.Get("continuation-token"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return invalidArgument("The continuation token provided is incorrect.")
		}
		after = string(b)
	}
	if region := req.q.Get("bucket-region"); region != "" && region != s.cfg.Region {
		return writeXML(req.w, http.StatusOK, listBucketsResult{NS: s3NS, Owner: owner{ID: o.ProjectID, DisplayName: o.ProjectID}, Buckets: []bucketEntry{}})
	}
	prefix := req.q.Get("prefix")
	q, args := `SELECT name, created_at FROM buckets WHERE project_id = ? AND name > ?`, []any{o.ProjectID, after}
	if prefix != "" {
		q += ` AND substr(name, 1, ?) = ?`
		args = append(args, len(prefix), prefix)
	}
	rows, err := s.db.Query(req.r.Context(), q+` ORDER BY name LIMIT `+strconv.Itoa(max+1), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	res := listBucketsResult{NS: s3NS, Owner: owner{ID: o.ProjectID, DisplayName: o.ProjectID}, Buckets: []bucketEntry{}, Prefix: prefix}
	for rows.Next() {
		var name string
		var created int64
		if err := rows.Scan(&name, &created); err != nil {
			return err
		}
		if len(res.Buckets) == max {
			res.ContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(res.Buckets[max-1].Name))
			break
		}
		res.Buckets = append(res.Buckets, bucketEntry{Name: name, CreationDate: xmlTime(created), BucketRegion: s.cfg.Region})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, res)
}

func (s *Server) getLocation(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:GetBucketLocation"); err != nil {
		return err
	}
	type location struct {
		XMLName xml.Name `xml:"LocationConstraint"`
		NS      string   `xml:"xmlns,attr"`
		Region  string   `xml:",chardata"`
	}
	region := s.cfg.Region
	if region == "us-east-1" {
		region = "" // as AWS answers for us-east-1
	}
	return writeXML(req.w, http.StatusOK, location{NS: s3NS, Region: region})
}

type versioningConfig struct {
	XMLName xml.Name `xml:"VersioningConfiguration"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	Status  string   `xml:",omitempty"`
}

func (s *Server) putVersioning(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketVersioning")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var cfg versioningConfig
	if xml.Unmarshal(body, &cfg) != nil || (cfg.Status != "Enabled" && cfg.Status != "Suspended") {
		return errMalformedXML
	}
	if b.ObjectLock != "" && cfg.Status != "Enabled" {
		return s3err(http.StatusConflict, "InvalidBucketState", "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
	}
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET versioning = ? WHERE name = ?`, cfg.Status, b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getVersioning(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketVersioning")
	if err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, versioningConfig{NS: s3NS, Status: b.Versioning})
}

// writeXML writes v as an XML response.
func writeXML(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	w.Write([]byte(xml.Header))
	return xml.NewEncoder(w).Encode(v)
}

// xmlTime formats unix microseconds as S3 does in XML.
func xmlTime(micros int64) string {
	return time.UnixMicro(micros).UTC().Format("2006-01-02T15:04:05.000Z")
}
