package objectstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// object is one version of an object (or a delete marker).
type object struct {
	Bucket, Key, VersionID string
	Seq                    int64
	IsLatest, DeleteMarker bool
	Size                   int64
	ETag                   string
	Modified               int64 // unix microseconds
	ContentType            string
	Headers                map[string]string // stored response headers and x-amz-meta-*
	ChecksumAlg, Checksum  string
	Tags                   string // URL query encoding
	ACL                    string
	// Blob names the file holding the data; small objects have none and
	// keep their data in the metadata row (Inline, set when writing).
	Blob   string
	Inline []byte
	// LockMode (GOVERNANCE or COMPLIANCE) and LockUntil (unix
	// microseconds) are the version's retention; LegalHold its legal hold.
	LockMode  string
	LockUntil int64
	LegalHold bool
	// Enc is how the data is sealed at rest; Parts, for an object a
	// multipart upload made, its parts in order.
	Enc   encryption
	Parts []objectPart
}

// objectPart is one part of a multipart object.
type objectPart struct {
	Number   int    `json:"n"`
	Size     int64  `json:"s"`
	Checksum string `json:"c,omitempty"`
}

// segments are the plaintext sizes of the sealed segments of the data.
func (o *object) segments() []int64 {
	if o.Parts == nil {
		return []int64{o.Size}
	}
	sizes := make([]int64, len(o.Parts))
	for i, p := range o.Parts {
		sizes[i] = p.Size
	}
	return sizes
}

// inlineMax is the largest object kept in its metadata row instead of a
// file: one database commit then makes it durable, with no file to create,
// fsync and name.
const inlineMax = 64 << 10

const objectColumns = `bucket, key, version_id, seq, is_latest, delete_marker, size, etag, modified, content_type, headers, checksum_alg, checksum, tags, acl, blob, lock_mode, lock_until, legal_hold, sse, sse_key, parts`

func scanObject(row interface{ Scan(...any) error }) (*object, error) {
	o := &object{}
	var headers, parts string
	err := row.Scan(&o.Bucket, &o.Key, &o.VersionID, &o.Seq, &o.IsLatest, &o.DeleteMarker, &o.Size, &o.ETag, &o.Modified,
		&o.ContentType, &headers, &o.ChecksumAlg, &o.Checksum, &o.Tags, &o.ACL, &o.Blob, &o.LockMode, &o.LockUntil, &o.LegalHold,
		&o.Enc.Alg, &o.Enc.Key, &parts)
	if err != nil {
		return nil, err
	}
	if headers != "" {
		if err := json.Unmarshal([]byte(headers), &o.Headers); err != nil {
			return nil, err
		}
	}
	if parts != "" {
		err = json.Unmarshal([]byte(parts), &o.Parts)
	}
	return o, err
}

// getObjectRow loads the latest version of a key, or the version asked for.
func (s *Server) getObjectRow(ctx context.Context, q store.Querier, bucket, key, versionID string) (*object, error) {
	var row interface{ Scan(...any) error }
	if versionID == "" {
		row = q.QueryRow(ctx, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND key = ? AND is_latest = ?`, bucket, key, true)
	} else {
		row = q.QueryRow(ctx, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND key = ? AND version_id = ?`, bucket, key, versionID)
	}
	o, err := scanObject(row)
	if errors.Is(store.Row(err), store.ErrNotFound) {
		if versionID != "" {
			return nil, errNoSuchVersion
		}
		return nil, errNoSuchKey
	}
	return o, err
}

// storedHeaders are the request headers kept with an object and returned on GET.
var storedHeaders = []string{"Content-Encoding", "Content-Disposition", "Content-Language", "Cache-Control", "Expires", "X-Amz-Website-Redirect-Location"}

const maxUserMetadata = 2 << 10

// objectHeaders collects the headers of a PUT that are stored with the object.
func objectHeaders(r *http.Request) (map[string]string, error) {
	h := map[string]string{}
	size := 0
	for name, vals := range r.Header {
		lower := strings.ToLower(name)
		if strings.HasPrefix(lower, "x-amz-meta-") {
			h[lower] = strings.Join(vals, ",")
			size += len(lower) - len("x-amz-meta-") + len(h[lower])
		}
	}
	if size > maxUserMetadata {
		return nil, errMetadataTooLarge
	}
	if err := checkRedirectLocation(r.Header.Get("X-Amz-Website-Redirect-Location")); err != nil {
		return nil, err
	}
	for _, name := range storedHeaders {
		v := r.Header.Get(name)
		if name == "Content-Encoding" {
			var kept []string
			for _, enc := range strings.Split(v, ",") {
				if enc = strings.TrimSpace(enc); enc != "" && enc != "aws-chunked" {
					kept = append(kept, enc)
				}
			}
			v = strings.Join(kept, ",")
		}
		if v != "" {
			h[name] = v
		}
	}
	return h, nil
}

func newVersionID() string { return newBlobID() }

// conditions are the preconditions of a conditional write.
type conditions struct{ ifMatch, ifNoneMatch string }

// completedUploadMemory is how long a completed upload is remembered;
// older records are pruned by the lifecycle pass.
const completedUploadMemory = 24 * time.Hour

// storeObjectCompleting is storeObject for the object a multipart upload
// completes: in the same transaction the upload and its parts go, and the
// parts' bytes stop counting against the project's quota as the object's
// start to. It returns the blobs to delete after the commit.
func (s *Server) storeObjectCompleting(ctx context.Context, b *bucket, o *object, cond conditions, uploadID string) ([]string, error) {
	return s.storeObjectTx(ctx, b, o, cond, func(tx *store.Tx) (int64, []string, error) {
		parts, err := uploadParts(ctx, tx, uploadID)
		if err != nil {
			return 0, nil, err
		}
		if err := store.Affected(tx.Exec(ctx, `DELETE FROM uploads WHERE id = ?`, uploadID)); err != nil {
			return 0, nil, errNoSuchUpload // completed or aborted meanwhile
		}
		if _, err := tx.Exec(ctx, `INSERT INTO completed_uploads (id, bucket, key, etag, version_id, checksum_alg, checksum, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			uploadID, o.Bucket, o.Key, o.ETag, o.VersionID, o.ChecksumAlg, o.Checksum, time.Now().UnixMicro()); err != nil {
			return 0, nil, err
		}
		var released int64
		var blobs []string
		for _, p := range parts {
			released += p.Size
			blobs = append(blobs, p.Blob)
		}
		return -released, blobs, nil
	})
}

// storeObject commits o as the newest version of its key in one
// transaction: versioning, preconditions, usage and quota. It returns the
// blobs that the write made unreferenced, to delete after the commit.
func (s *Server) storeObject(ctx context.Context, b *bucket, o *object, cond conditions) ([]string, error) {
	return s.storeObjectTx(ctx, b, o, cond, nil)
}

// storeObjectTx is storeObject with also, when not nil, run in the same
// transaction: it returns a change of the project's stored bytes and
// blobs to free after the commit.
func (s *Server) storeObjectTx(ctx context.Context, b *bucket, o *object, cond conditions, also func(*store.Tx) (int64, []string, error)) ([]string, error) {
	var freed []string
	err := s.db.Batch(ctx, func(tx *store.Tx) error {
		freed = nil
		if cond != (conditions{}) {
			latest, err := s.getObjectRow(ctx, tx, b.Name, o.Key, "")
			exists := err == nil && !latest.DeleteMarker
			if err != nil && !errors.Is(err, errNoSuchKey) {
				return err
			}
			if cond.ifNoneMatch == "*" && exists {
				return errPreconditionFailed
			}
			if cond.ifMatch != "" && (!exists || !etagMatches(cond.ifMatch, latest.ETag)) {
				return errPreconditionFailed
			}
		}
		var deltaBytes, deltaObjects int64
		if b.Versioning == "Enabled" {
			o.VersionID = newVersionID()
		} else {
			o.VersionID = "null"
			old, err := s.getObjectRow(ctx, tx, b.Name, o.Key, "null")
			if err == nil {
				if !old.DeleteMarker {
					deltaBytes, deltaObjects = -old.Size, -1
				}
				freed = append(freed, old.Blob)
				if _, err := tx.Exec(ctx, `DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = 'null'`, b.Name, o.Key); err != nil {
					return err
				}
			} else if !errors.Is(err, errNoSuchVersion) {
				return err
			}
		}
		// A bucket that never had versioning holds no other version to demote.
		if b.Versioning != "" {
			if _, err := tx.Exec(ctx, `UPDATE objects SET is_latest = ? WHERE bucket = ? AND key = ? AND is_latest = ?`, false, b.Name, o.Key, true); err != nil {
				return err
			}
		}
		o.IsLatest = true
		o.Seq = time.Now().UnixNano()
		headers, _ := json.Marshal(o.Headers)
		var parts []byte
		if o.Parts != nil {
			parts, _ = json.Marshal(o.Parts)
		}
		if o.LockMode == "" && !o.DeleteMarker {
			applyDefaultRetention(b, o)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO objects (`+objectColumns+`, inline_data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			b.Name, o.Key, o.VersionID, o.Seq, o.IsLatest, o.DeleteMarker, o.Size, o.ETag, o.Modified, o.ContentType, string(headers),
			o.ChecksumAlg, o.Checksum, o.Tags, o.ACL, o.Blob, o.LockMode, o.LockUntil, o.LegalHold, o.Enc.Alg, o.Enc.Key, string(parts), o.Inline); err != nil {
			return err
		}
		if !o.DeleteMarker {
			deltaBytes, deltaObjects = deltaBytes+o.Size, deltaObjects+1
		}
		if also != nil {
			bytes, blobs, err := also(tx)
			if err != nil {
				return err
			}
			deltaBytes += bytes
			freed = append(freed, blobs...)
		}
		return s.addUsage(ctx, tx, b.ProjectID, deltaBytes, deltaObjects)
	})
	if errors.Is(err, store.ErrConflict) {
		return nil, errNoSuchBucket // deleted meanwhile: the object row's bucket reference fails
	}
	if err != nil {
		return nil, err
	}
	return freed, nil
}

// addUsage changes a project's usage and enforces its quota when usage grows.
func (s *Server) addUsage(ctx context.Context, tx *store.Tx, project string, bytes, objects int64) error {
	if bytes == 0 && objects == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO project_usage (project_id, bytes, objects) VALUES (?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET bytes = project_usage.bytes + excluded.bytes, objects = project_usage.objects + excluded.objects`,
		project, bytes, objects); err != nil {
		return err
	}
	if (bytes <= 0 || s.cfg.QuotaBytes == 0) && (objects <= 0 || s.cfg.QuotaObjects == 0) {
		return nil
	}
	var usedBytes, usedObjects int64
	if err := tx.QueryRow(ctx, `SELECT bytes, objects FROM project_usage WHERE project_id = ?`, project).Scan(&usedBytes, &usedObjects); err != nil {
		return err
	}
	if (bytes > 0 && s.cfg.QuotaBytes > 0 && usedBytes > s.cfg.QuotaBytes) || (objects > 0 && s.cfg.QuotaObjects > 0 && usedObjects > s.cfg.QuotaObjects) {
		return errQuotaExceeded
	}
	return nil
}

func etagMatches(header, etag string) bool {
	for _, v := range strings.Split(header, ",") {
		v = strings.TrimSpace(v)
		if v == "*" || strings.Trim(v, `"`) == etag {
			return true
		}
	}
	return false
}

// maxKeyBytes is S3's limit on the length of an object key (UTF-8 bytes).
const maxKeyBytes = 1024

// checkNewKey holds S3's rules for a key that an operation creates
// (PutObject, CopyObject, CreateMultipartUpload): each calls it first.
func checkNewKey(key string) error {
	if len(key) > maxKeyBytes {
		return s3err(http.StatusBadRequest, "KeyTooLongError", "Your key is too long")
	}
	return nil
}

func (s *Server) putObject(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:PutObject")
	if err != nil {
		return err
	}
	if err := checkNewKey(req.key); err != nil {
		return err
	}
	size, err := payloadSize(req)
	if err != nil {
		return err
	}
	if size > s.cfg.MaxObjectSize {
		return errEntityTooLarge
	}
	o, err := newObjectFromRequest(req)
	if err != nil {
		return err
	}
	if err := lockFromRequest(req, b, o); err != nil {
		return err
	}
	if err := checkACL(b, o.ACL); err != nil {
		return err
	}
	check, err := parseBodyCheck(req)
	if err != nil {
		return err
	}
	z, err := s.newSealing(req, b)
	if err != nil {
		return err
	}
	o.Enc = z.enc
	k, err := s.newSink(size, true)
	if err != nil {
		return err
	}
	d, etag, err := receiveSealed(req, k, size, check, z)
	if err != nil {
		k.abort()
		return err
	}
	if o.Inline, o.Blob, err = k.done(); err != nil {
		return err
	}
	o.ETag = etag
	o.Size = size
	o.ChecksumAlg, o.Checksum = check.checksum.alg, d.checksumValue()
	z.headers(req.w.Header())
	return s.finishPut(req, b, o, conditions{ifMatch: req.r.Header.Get("If-Match"), ifNoneMatch: req.r.Header.Get("If-None-Match")})
}

// finishPut commits an object whose data is stored and answers the request.
func (s *Server) finishPut(req *request, b *bucket, o *object, cond conditions) error {
	freed, err := s.storeObject(req.r.Context(), b, o, cond)
	if err != nil {
		s.data.remove(o.Blob)
		return err
	}
	for _, id := range freed {
		s.data.remove(id)
	}
	h := req.w.Header()
	h.Set("ETag", `"`+o.ETag+`"`)
	if o.Checksum != "" {
		h.Set(checksumHeader(o.ChecksumAlg), o.Checksum)
	}
	if b.Versioning != "" {
		h.Set("X-Amz-Version-Id", o.VersionID)
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// newObjectFromRequest takes content type, stored headers, tags and ACL from a PUT.
func newObjectFromRequest(req *request) (*object, error) {
	o := &object{Bucket: req.bucket, Key: req.key, Modified: time.Now().UnixMicro(), ContentType: req.r.Header.Get("Content-Type")}
	if o.ContentType == "" {
		o.ContentType = "binary/octet-stream"
	}
	var err error
	if o.Headers, err = objectHeaders(req.r); err != nil {
		return nil, err
	}
	if o.Tags, err = parseTagHeader(req.r.Header.Get("X-Amz-Tagging")); err != nil {
		return nil, err
	}
	if o.ACL, err = aclFromHeaders(req.r.Header); err != nil {
		return nil, err
	}
	return o, nil
}

// objectFor loads a version (or the latest) of key in b for an operation
// needing access and action, authorized against the object's own ACL and
// tags (for policy conditions on s3:ExistingObjectTag). A caller who may
// not do it learns whether the object exists only if it may list the
// bucket, as in AWS.
func (s *Server) objectFor(req *request, b *bucket, key, versionID, access, action string) (*object, error) {
	action = versionAction(action, versionID)
	o, err := s.getObjectRow(req.r.Context(), s.db, b.Name, key, versionID)
	if err != nil {
		if aerr := s.authorize(req, b, key, access, action, ""); aerr != nil &&
			s.authorize(req, b, "", accessRead, "s3:ListBucket", "") != nil {
			return nil, aerr
		}
		return nil, err
	}
	req.objectTags = o.Tags
	err = s.authorize(req, b, key, access, action, o.ACL)
	req.objectTags = ""
	if err != nil {
		return nil, err
	}
	return o, nil
}

// readableObject is objectFor a read.
func (s *Server) readableObject(req *request, b *bucket, key, versionID, action string) (*object, error) {
	return s.objectFor(req, b, key, versionID, accessRead, action)
}

// requestObject is objectFor the request's bucket, key and version; a
// delete marker there is NoSuchKey.
func (s *Server) requestObject(req *request, access, action string) (*bucket, *object, error) {
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.objectFor(req, b, req.key, req.q.Get("versionId"), access, action)
	if err != nil {
		return nil, nil, err
	}
	if o.DeleteMarker {
		return nil, nil, errNoSuchKey
	}
	return b, o, nil
}

// readVersion loads the version of the request's object that a read
// (action) names and opens its data key: the version's headers are set;
// a delete marker answers NoSuchKey, or markerVersion when the request
// names it by version.
func (s *Server) readVersion(req *request, action string, markerVersion error) (*bucket, *object, *sealing, error) {
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return nil, nil, nil, err
	}
	o, err := s.readableObject(req, b, req.key, req.q.Get("versionId"), action)
	if err != nil {
		return nil, nil, nil, err
	}
	h := req.w.Header()
	if b.Versioning != "" {
		h.Set("X-Amz-Version-Id", o.VersionID)
	}
	if o.DeleteMarker {
		h.Set("X-Amz-Delete-Marker", "true")
		if req.q.Get("versionId") != "" {
			return nil, nil, nil, markerVersion
		}
		return nil, nil, nil, errNoSuchKey
	}
	z, err := s.openSealing(req, o.Enc, sseCHeaders)
	if err != nil {
		return nil, nil, nil, err
	}
	return b, o, z, nil
}

// getObject serves GetObject and HeadObject.
func (s *Server) getObject(req *request) error {
	ctx := req.r.Context()
	_, o, z, err := s.readVersion(req, "s3:GetObject", errMethodNotAllowed)
	if err != nil {
		return err
	}
	h := req.w.Header()
	modified := time.UnixMicro(o.Modified).UTC()
	if status := checkConditions(req.r, o.ETag, modified); status != 0 {
		if status == http.StatusNotModified {
			h.Set("ETag", `"`+o.ETag+`"`)
			req.w.WriteHeader(status)
			return nil
		}
		return errPreconditionFailed
	}
	start, length, partial, err := objectRange(req, o)
	if err != nil {
		return err
	}
	z.headers(h)
	h.Set("ETag", `"`+o.ETag+`"`)
	h.Set("Last-Modified", modified.Format(http.TimeFormat))
	h.Set("Accept-Ranges", "bytes")
	h.Set("Content-Type", o.ContentType)
	lockHeaders(h, o)
	for k, v := range o.Headers {
		if strings.HasPrefix(k, "x-amz-meta-") {
			// In lower case, as AWS sends them: SDKs take the metadata
			// names from the header names as they are.
			h[k] = []string{v}
		} else {
			h.Set(k, v)
		}
	}
	if o.Tags != "" {
		if tags, err := url.ParseQuery(o.Tags); err == nil {
			h.Set("X-Amz-Tagging-Count", strconv.Itoa(len(tags)))
		}
	}
	if o.Checksum != "" && !partial && strings.EqualFold(req.r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") {
		h.Set(checksumHeader(o.ChecksumAlg), o.Checksum)
	}
	for param, header := range responseOverrides {
		if v := req.q.Get(param); v != "" {
			h.Set(header, v)
		}
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if partial {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
		status = http.StatusPartialContent
	}
	if req.r.Method == http.MethodHead {
		req.w.WriteHeader(status)
		return nil
	}
	data, closeData, err := s.openData(ctx, o, z.dataKey)
	if err != nil {
		return err
	}
	defer closeData()
	req.w.WriteHeader(status)
	_, err = io.Copy(req.w, io.NewSectionReader(data, start, length))
	if err != nil {
		s.log.Debug("s3 get: client went away", "err", err)
	}
	return nil
}

// openData opens the plaintext of an object, from its file or its row;
// dataKey opens sealed data (openSealing finds it).
func (s *Server) openData(ctx context.Context, o *object, dataKey []byte) (io.ReaderAt, func(), error) {
	var src io.ReaderAt
	closeSrc := func() {}
	if o.Blob != "" {
		f, err := s.data.open(o.Blob)
		if err != nil {
			return nil, nil, fmt.Errorf("object data of %s/%s: %w", o.Bucket, o.Key, err)
		}
		src, closeSrc = f, func() { f.Close() }
	} else {
		var data []byte
		err := s.db.QueryRow(ctx, `SELECT inline_data FROM objects WHERE bucket = ? AND key = ? AND version_id = ?`, o.Bucket, o.Key, o.VersionID).Scan(&data)
		if err != nil {
			return nil, nil, fmt.Errorf("object data of %s/%s: %w", o.Bucket, o.Key, store.Row(err))
		}
		src = bytes.NewReader(data)
	}
	if o.Enc.Alg != "" {
		src = newOpener(src, dataKey, o.segments())
	}
	return src, closeSrc, nil
}

// objectRange is the part of an object a GET asks for: a Range, a part
// (partNumber) or all of it.
func objectRange(req *request, o *object) (start, length int64, partial bool, err error) {
	h := req.w.Header()
	num := req.q.Get("partNumber")
	if num == "" {
		start, length, partial, err = parseRange(req.r.Header.Get("Range"), o.Size)
		if err != nil {
			h.Set("Content-Range", fmt.Sprintf("bytes */%d", o.Size))
		}
		return start, length, partial, err
	}
	n, perr := strconv.Atoi(num)
	if perr != nil || n < 1 || n > maxPartNum {
		return 0, 0, false, invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	if req.r.Header.Get("Range") != "" {
		return 0, 0, false, s3err(http.StatusBadRequest, "InvalidRequest", "Cannot specify both Range header and partNumber query parameter")
	}
	if o.Parts == nil {
		if strings.Contains(o.ETag, "-") {
			return 0, 0, false, s3err(http.StatusNotImplemented, "NotImplemented", "This object was completed before sov recorded its parts; reading one of its parts is not possible.")
		}
		if n != 1 {
			return 0, 0, false, s3err(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable")
		}
		return 0, o.Size, false, nil
	}
	if n > len(o.Parts) {
		return 0, 0, false, s3err(http.StatusRequestedRangeNotSatisfiable, "InvalidPartNumber", "The requested partnumber is not satisfiable")
	}
	for _, p := range o.Parts[:n-1] {
		start += p.Size
	}
	h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(len(o.Parts)))
	return start, o.Parts[n-1].Size, true, nil
}

// responseOverrides are the GetObject query parameters that set response headers.
var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

// checkConditions evaluates If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in S3's order; it returns 0, 304 or 412.
func checkConditions(r *http.Request, etag string, modified time.Time) int {
	modified = modified.Truncate(time.Second)
	if v := r.Header.Get("If-Match"); v != "" {
		if !etagMatches(v, etag) {
			return http.StatusPreconditionFailed
		}
	} else if v := r.Header.Get("If-Unmodified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && modified.After(t) {
			return http.StatusPreconditionFailed
		}
	}
	if v := r.Header.Get("If-None-Match"); v != "" {
		if etagMatches(v, etag) {
			return http.StatusNotModified
		}
	} else if v := r.Header.Get("If-Modified-Since"); v != "" {
		if t, err := http.ParseTime(v); err == nil && !modified.After(t) {
			return http.StatusNotModified
		}
	}
	return 0
}

// parseRange parses a single "bytes=" range against size.
func parseRange(header string, size int64) (start, length int64, partial bool, err error) {
	if header == "" {
		return 0, size, false, nil
	}
	spec, ok := strings.CutPrefix(header, "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return 0, size, false, nil // S3 ignores what it cannot parse
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return 0, size, false, nil
	}
	if first == "" {
		n, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || n <= 0 || size == 0 {
			return 0, 0, false, errInvalidRange
		}
		n = min(n, size)
		return size - n, n, true, nil
	}
	start, perr := strconv.ParseInt(first, 10, 64)
	if perr != nil || start < 0 || start >= size {
		return 0, 0, false, errInvalidRange
	}
	end := size - 1
	if last != "" {
		e, perr := strconv.ParseInt(last, 10, 64)
		if perr != nil || e < start {
			return 0, 0, false, errInvalidRange
		}
		end = min(e, size-1)
	}
	return start, end - start + 1, true, nil
}

// versionActions are the policy actions that have their own name for an
// operation on a given version: s3:GetObject becomes s3:GetObjectVersion,
// s3:GetObjectTagging s3:GetObjectVersionTagging.
var versionActions = map[string]bool{
	"s3:GetObject": true, "s3:DeleteObject": true, "s3:GetObjectAcl": true, "s3:PutObjectAcl": true, "s3:GetObjectTagging": true,
	"s3:PutObjectTagging": true, "s3:DeleteObjectTagging": true, "s3:GetObjectAttributes": true,
}

// versionAction is the policy action of an object operation on a given version.
func versionAction(action, versionID string) string {
	if versionID == "" || !versionActions[action] {
		return action
	}
	for _, verb := range []string{"s3:GetObject", "s3:PutObject", "s3:DeleteObject"} {
		if rest, ok := strings.CutPrefix(action, verb); ok {
			return verb + "Version" + rest
		}
	}
	return action
}

func (s *Server) deleteObject(req *request) error {
	b, err := s.bucketFor(req, accessWrite, versionAction("s3:DeleteObject", req.q.Get("versionId")))
	if err != nil {
		return err
	}
	res, err := s.removeObject(req.r.Context(), b, req.key, req.q.Get("versionId"), req.r.Header.Get("If-Match"), s.bypassGovernance(req, b, req.key))
	if err != nil {
		return err
	}
	if res.deleteMarker {
		req.w.Header().Set("X-Amz-Delete-Marker", "true")
	}
	if res.versionID != "" && b.Versioning != "" {
		req.w.Header().Set("X-Amz-Version-Id", res.versionID)
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

type removed struct {
	versionID    string
	deleteMarker bool
}

// removeObject deletes a key the way the bucket's versioning says: without
// a version id, unversioned buckets drop the object and versioned ones add
// a delete marker; with one, that version goes. Deleting what does not
// exist succeeds, as in S3. With ifMatch (If-Match, or a multi-delete
// entry's ETag) only an object with that ETag goes: else PreconditionFailed.
func (s *Server) removeObject(ctx context.Context, b *bucket, key, versionID, ifMatch string, bypass bool) (removed, error) {
	if versionID == "" && b.Versioning == "Enabled" {
		o := &object{Bucket: b.Name, Key: key, DeleteMarker: true, Modified: time.Now().UnixMicro()}
		freed, err := s.storeObject(ctx, b, o, conditions{ifMatch: ifMatch})
		for _, id := range freed {
			s.data.remove(id)
		}
		return removed{versionID: o.VersionID, deleteMarker: true}, err
	}
	if versionID == "" {
		versionID = "null"
		if b.Versioning == "Suspended" {
			o := &object{Bucket: b.Name, Key: key, DeleteMarker: true, Modified: time.Now().UnixMicro()}
			freed, err := s.storeObject(ctx, b, o, conditions{ifMatch: ifMatch})
			for _, id := range freed {
				s.data.remove(id)
			}
			return removed{versionID: "null", deleteMarker: true}, err
		}
	}
	var gone *object
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		o, err := s.getObjectRow(ctx, tx, b.Name, key, versionID)
		if errors.Is(err, errNoSuchVersion) {
			gone = nil
			if ifMatch != "" {
				return errPreconditionFailed
			}
			return nil
		}
		if err != nil {
			return err
		}
		if ifMatch != "" && (o.DeleteMarker || !etagMatches(ifMatch, o.ETag)) {
			return errPreconditionFailed
		}
		if err := checkLock(o, bypass); err != nil {
			return err
		}
		gone = o
		if _, err := tx.Exec(ctx, `DELETE FROM objects WHERE bucket = ? AND key = ? AND version_id = ?`, b.Name, key, versionID); err != nil {
			return err
		}
		if o.IsLatest {
			// The newest remaining version becomes the latest.
			if _, err := tx.Exec(ctx, `UPDATE objects SET is_latest = ? WHERE bucket = ? AND key = ? AND seq = (SELECT MAX(seq) FROM objects WHERE bucket = ? AND key = ?)`,
				true, b.Name, key, b.Name, key); err != nil {
				return err
			}
		}
		if o.DeleteMarker {
			return nil
		}
		return s.addUsage(ctx, tx, b.ProjectID, -o.Size, -1)
	})
	if err != nil || gone == nil {
		return removed{versionID: versionID}, err
	}
	s.data.remove(gone.Blob)
	return removed{versionID: versionID, deleteMarker: gone.DeleteMarker}, nil
}
