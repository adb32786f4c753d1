package objectstore

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

const (
	minPartSize = 5 << 20
	maxPartNum  = 10000
)

type upload struct {
	ID, Bucket, Key, ContentType, ChecksumAlg, Tags, ACL string
	Initiated                                            int64
	Headers                                              map[string]string
	Enc                                                  encryption
	// The object lock the upload's object gets, as CreateMultipartUpload asked.
	LockMode  string
	LockUntil int64
	LegalHold bool
}

// uploadFor loads the upload named by ?uploadId for the request's bucket and key.
func (s *Server) uploadFor(req *request) (*upload, error) {
	u := &upload{}
	var headers string
	err := store.Row(s.db.QueryRow(req.r.Context(), `SELECT id, bucket, key, content_type, checksum_alg, tags, acl, initiated, headers, sse, sse_key, lock_mode, lock_until, legal_hold
		FROM uploads WHERE id = ? AND bucket = ? AND key = ?`, req.q.Get("uploadId"), req.bucket, req.key).
		Scan(&u.ID, &u.Bucket, &u.Key, &u.ContentType, &u.ChecksumAlg, &u.Tags, &u.ACL, &u.Initiated, &headers, &u.Enc.Alg, &u.Enc.Key,
			&u.LockMode, &u.LockUntil, &u.LegalHold))
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNoSuchUpload
	}
	if err != nil {
		return nil, err
	}
	return u, json.Unmarshal([]byte(headers), &u.Headers)
}

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

func (s *Server) createUpload(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:PutObject")
	if err != nil {
		return err
	}
	if err := checkNewKey(req.key); err != nil {
		return err
	}
	o, err := newObjectFromRequest(req)
	if err != nil {
		return err
	}
	if err := checkACL(b, o.ACL); err != nil {
		return err
	}
	if err := lockFromRequest(req, b, o); err != nil {
		return err
	}
	alg := strings.ToUpper(req.r.Header.Get("X-Amz-Checksum-Algorithm"))
	if _, ok := checksumAlgorithms[alg]; alg != "" && !ok {
		return invalidArgument("Unsupported checksum algorithm %q.", alg)
	}
	z, err := s.newSealing(req, b)
	if err != nil {
		return err
	}
	id := newBlobID()
	headers, _ := json.Marshal(o.Headers)
	if _, err := s.db.Exec(req.r.Context(), `INSERT INTO uploads (id, bucket, key, initiated, content_type, headers, checksum_alg, tags, acl, sse, sse_key,
		lock_mode, lock_until, legal_hold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, b.Name, req.key, time.Now().UnixMicro(), o.ContentType, string(headers),
		alg, o.Tags, o.ACL, z.enc.Alg, z.enc.Key, o.LockMode, o.LockUntil, o.LegalHold); err != nil {
		return err
	}
	z.headers(req.w.Header())
	if alg != "" {
		req.w.Header().Set("X-Amz-Checksum-Algorithm", alg)
	}
	return writeXML(req.w, http.StatusOK, initiateResult{NS: s3NS, Bucket: b.Name, Key: req.key, UploadID: id})
}

func partNumber(req *request) (int, error) {
	n, err := strconv.Atoi(req.q.Get("partNumber"))
	if err != nil || n < 1 || n > maxPartNum {
		return 0, invalidArgument("Part number must be an integer between 1 and 10000, inclusive")
	}
	return n, nil
}

// partTarget checks a part upload (or copy) and returns its bucket, upload and part number.
func (s *Server) partTarget(req *request) (*bucket, *upload, int, error) {
	b, err := s.bucketFor(req, accessWrite, "s3:PutObject")
	if err != nil {
		return nil, nil, 0, err
	}
	u, err := s.uploadFor(req)
	if err != nil {
		return nil, nil, 0, err
	}
	num, err := partNumber(req)
	return b, u, num, err
}

func (s *Server) uploadPart(req *request) error {
	b, u, num, err := s.partTarget(req)
	if err != nil {
		return err
	}
	size, err := payloadSize(req)
	if err != nil {
		return err
	}
	if size > s.cfg.MaxObjectSize {
		return errEntityTooLarge
	}
	check, err := parseBodyCheck(req)
	if err != nil {
		return err
	}
	z, err := s.openSealing(req, u.Enc, sseCHeaders)
	if err != nil {
		return err
	}
	k, err := s.newSink(size, false)
	if err != nil {
		return err
	}
	d, etag, err := receiveSealed(req, k, size, check, z)
	if err != nil {
		k.abort()
		return err
	}
	_, blob, err := k.done()
	if err != nil {
		return err
	}
	if err := s.storePart(req, b, u, num, size, etag, d.checksumValue(), blob); err != nil {
		return err
	}
	z.headers(req.w.Header())
	req.w.Header().Set("ETag", `"`+etag+`"`)
	if check.checksum.alg != "" {
		req.w.Header().Set(checksumHeader(check.checksum.alg), d.checksumValue())
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

// storePart records a part, replacing (and freeing) an earlier upload of
// the same number; its bytes count against the project's quota until the
// upload completes or is aborted.
func (s *Server) storePart(req *request, b *bucket, u *upload, num int, size int64, etag, checksum, blob string) error {
	ctx := req.r.Context()
	var old string
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		old = ""
		var oldSize int64
		err := store.Row(tx.QueryRow(ctx, `SELECT blob, size FROM parts WHERE upload_id = ? AND part_number = ?`, u.ID, num).Scan(&old, &oldSize))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM parts WHERE upload_id = ? AND part_number = ?`, u.ID, num); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO parts (upload_id, part_number, size, etag, checksum, modified, blob) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			u.ID, num, size, etag, checksum, time.Now().UnixMicro(), blob)
		if err != nil {
			return err
		}
		return s.addUsage(ctx, tx, b.ProjectID, size-oldSize, 0)
	})
	if err != nil {
		s.data.remove(blob)
		if errors.Is(err, store.ErrConflict) {
			return errNoSuchUpload // aborted meanwhile
		}
		return err
	}
	s.data.remove(old)
	return nil
}

type part struct {
	Number         int
	Size           int64
	ETag, Checksum string
	Modified       int64
	Blob           string
}

// uploadParts returns the parts of an upload, in order.
func uploadParts(ctx context.Context, q store.Querier, uploadID string) ([]part, error) {
	rows, err := q.Query(ctx, `SELECT part_number, size, etag, checksum, modified, blob FROM parts WHERE upload_id = ? ORDER BY part_number`, uploadID)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, func(row store.Scanner) (part, error) {
		var p part
		return p, row.Scan(&p.Number, &p.Size, &p.ETag, &p.Checksum, &p.Modified, &p.Blob)
	})
}

type completeRequest struct {
	XMLName xml.Name `xml:"CompleteMultipartUpload"`
	Parts   []struct {
		PartNumber     int
		ETag           string
		ChecksumCRC32  string
		ChecksumCRC32C string
		ChecksumSHA1   string
		ChecksumSHA256 string
	} `xml:"Part"`
}

type completeResult struct {
	XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
	NS       string   `xml:"xmlns,attr"`
	Location string
	Bucket   string
	Key      string
	ETag     string
	checksumFields
}

// checksumFields are the Checksum<ALG> elements of S3's XML results.
type checksumFields struct {
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
}

// set fills in the element of the algorithm.
func (c *checksumFields) set(alg, value string) {
	switch alg {
	case "CRC32":
		c.ChecksumCRC32 = value
	case "CRC32C":
		c.ChecksumCRC32C = value
	case "CRC64NVME":
		c.ChecksumCRC64NVME = value
	case "SHA1":
		c.ChecksumSHA1 = value
	case "SHA256":
		c.ChecksumSHA256 = value
	}
}

// completeUpload joins the listed parts into one object. The data is
// copied into a new file (copy_file_range keeps that in the kernel), so an
// object is always one file.
func (s *Server) completeUpload(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:PutObject")
	if err != nil {
		return err
	}
	u, err := s.uploadFor(req)
	if errors.Is(err, errNoSuchUpload) {
		return s.completedAgain(req, b)
	}
	if err != nil {
		return err
	}
	z, err := s.completionSealing(req, u)
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 2<<20)
	if err != nil {
		return err
	}
	var cr completeRequest
	if xml.Unmarshal(body, &cr) != nil || len(cr.Parts) == 0 {
		return errMalformedXML
	}
	stored, err := uploadParts(req.r.Context(), s.db, u.ID)
	if err != nil {
		return err
	}
	byNum := map[int]part{}
	for _, p := range stored {
		byNum[p.Number] = p
	}
	var chosen []part
	var parts []objectPart
	etags := md5.New()
	var sums []byte
	for i := 1; i < len(cr.Parts); i++ {
		if cr.Parts[i].PartNumber <= cr.Parts[i-1].PartNumber {
			return errInvalidPartOrder
		}
	}
	for i, want := range cr.Parts {
		p, ok := byNum[want.PartNumber]
		if !ok || strings.Trim(want.ETag, `"`) != p.ETag {
			return errInvalidPart
		}
		if i < len(cr.Parts)-1 && p.Size < minPartSize {
			return errEntityTooSmall
		}
		raw, _ := hex.DecodeString(p.ETag)
		etags.Write(raw)
		if u.ChecksumAlg != "" {
			sum, _ := base64.StdEncoding.DecodeString(p.Checksum)
			sums = append(sums, sum...)
		}
		chosen = append(chosen, p)
		parts = append(parts, objectPart{Number: p.Number, Size: p.Size, Checksum: p.Checksum})
	}
	pending, err := s.data.create()
	if err != nil {
		return err
	}
	var size int64
	for _, p := range chosen {
		f, err := s.data.open(p.Blob)
		if err != nil {
			pending.abort()
			return err
		}
		_, err = io.Copy(pending.File, f)
		f.Close()
		if err != nil {
			pending.abort()
			return err
		}
		size += p.Size
	}
	if err := pending.commit(); err != nil {
		return err
	}
	o := &object{Bucket: b.Name, Key: u.Key, Modified: time.Now().UnixMicro(), ContentType: u.ContentType, Headers: u.Headers,
		Tags: u.Tags, ACL: u.ACL, Blob: pending.id, Size: size, ChecksumAlg: u.ChecksumAlg, Enc: u.Enc, Parts: parts,
		LockMode: u.LockMode, LockUntil: u.LockUntil, LegalHold: u.LegalHold,
		ETag: fmt.Sprintf("%s-%d", hex.EncodeToString(etags.Sum(nil)), len(chosen))}
	if u.ChecksumAlg != "" {
		h := checksumAlgorithms[u.ChecksumAlg]()
		h.Write(sums)
		o.Checksum = fmt.Sprintf("%s-%d", base64.StdEncoding.EncodeToString(h.Sum(nil)), len(chosen))
	}
	ctx := req.r.Context()
	freed, err := s.storeObjectCompleting(ctx, b, o, conditions{ifMatch: req.r.Header.Get("If-Match"), ifNoneMatch: req.r.Header.Get("If-None-Match")}, u.ID)
	if err != nil {
		s.data.remove(o.Blob)
		return err
	}
	for _, id := range freed {
		s.data.remove(id)
	}
	if b.Versioning != "" {
		req.w.Header().Set("X-Amz-Version-Id", o.VersionID)
	}
	z.headers(req.w.Header())
	res := completeResult{NS: s3NS, Location: "/" + b.Name + "/" + u.Key, Bucket: b.Name, Key: u.Key, ETag: `"` + o.ETag + `"`}
	res.set(u.ChecksumAlg, o.Checksum)
	return writeXML(req.w, http.StatusOK, res)
}

// completionSealing checks the customer key a completion of an SSE-C
// upload may carry (AWS does not require it there) and tells what the
// answer's encryption headers are.
func (s *Server) completionSealing(req *request, u *upload) (*sealing, error) {
	if u.Enc.Alg == sseC && req.r.Header.Get(sseCHeaders+"Key") == "" {
		return &sealing{}, nil
	}
	return s.openSealing(req, u.Enc, sseCHeaders)
}

// completedAgain answers a CompleteMultipartUpload resent for an upload
// completed in the last day with the answer it had, as AWS does.
func (s *Server) completedAgain(req *request, b *bucket) error {
	var etag, versionID, alg, checksum string
	err := store.Row(s.db.QueryRow(req.r.Context(), `SELECT etag, version_id, checksum_alg, checksum FROM completed_uploads
		WHERE id = ? AND bucket = ? AND key = ? AND completed_at >= ?`, req.q.Get("uploadId"), b.Name, req.key,
		time.Now().Add(-completedUploadMemory).UnixMicro()).Scan(&etag, &versionID, &alg, &checksum))
	if errors.Is(err, store.ErrNotFound) {
		return errNoSuchUpload
	}
	if err != nil {
		return err
	}
	if b.Versioning != "" {
		req.w.Header().Set("X-Amz-Version-Id", versionID)
	}
	res := completeResult{NS: s3NS, Location: "/" + b.Name + "/" + req.key, Bucket: b.Name, Key: req.key, ETag: `"` + etag + `"`}
	res.set(alg, checksum)
	return writeXML(req.w, http.StatusOK, res)
}

// dropUpload deletes an upload and its parts, releasing their bytes from
// the project's usage, and then the part files.
func (s *Server) dropUpload(ctx context.Context, b *bucket, id string) error {
	var parts []part
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		var err error
		if parts, err = uploadParts(ctx, tx, id); err != nil {
			return err
		}
		if err := store.Affected(tx.Exec(ctx, `DELETE FROM uploads WHERE id = ?`, id)); err != nil {
			return errNoSuchUpload
		}
		var released int64
		for _, p := range parts {
			released += p.Size
		}
		return s.addUsage(ctx, tx, b.ProjectID, -released, 0)
	})
	if err != nil {
		return err
	}
	for _, p := range parts {
		s.data.remove(p.Blob)
	}
	return nil
}

func (s *Server) abortUpload(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:AbortMultipartUpload")
	if err != nil {
		return err
	}
	u, err := s.uploadFor(req)
	if err != nil {
		return err
	}
	if err := s.dropUpload(req.r.Context(), b, u.ID); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

type listPartsResult struct {
	XMLName              xml.Name `xml:"ListPartsResult"`
	NS                   string   `xml:"xmlns,attr"`
	Bucket               string
	Key                  string
	UploadID             string `xml:"UploadId"`
	PartNumberMarker     int
	NextPartNumberMarker int
	MaxParts             int
	IsTruncated          bool
	StorageClass         string
	ChecksumAlgorithm    string      `xml:",omitempty"`
	Parts                []partEntry `xml:"Part"`
}

type partEntry struct {
	PartNumber   int
	LastModified string
	ETag         string
	Size         int64
	checksumFields
}

func (s *Server) listParts(req *request) error {
	if _, err := s.bucketFor(req, accessWrite, "s3:ListMultipartUploadParts"); err != nil {
		return err
	}
	u, err := s.uploadFor(req)
	if err != nil {
		return err
	}
	max := 1000
	if v := req.q.Get("max-parts"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 0 {
			return invalidArgument("max-parts must be a non-negative integer")
		}
		max = min(max, 1000)
	}
	marker, _ := strconv.Atoi(req.q.Get("part-number-marker"))
	parts, err := uploadParts(req.r.Context(), s.db, u.ID)
	if err != nil {
		return err
	}
	res := listPartsResult{NS: s3NS, Bucket: u.Bucket, Key: u.Key, UploadID: u.ID, PartNumberMarker: marker, MaxParts: max,
		StorageClass: "STANDARD", ChecksumAlgorithm: u.ChecksumAlg}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if len(res.Parts) == max {
			res.IsTruncated = true
			break
		}
		e := partEntry{PartNumber: p.Number, LastModified: xmlTime(p.Modified), ETag: `"` + p.ETag + `"`, Size: p.Size}
		e.set(u.ChecksumAlg, p.Checksum)
		res.Parts = append(res.Parts, e)
		res.NextPartNumberMarker = p.Number
	}
	return writeXML(req.w, http.StatusOK, res)
}

type listUploadsResult struct {
	XMLName            xml.Name `xml:"ListMultipartUploadsResult"`
	NS                 string   `xml:"xmlns,attr"`
	Bucket             string
	KeyMarker          string
	UploadIDMarker     string `xml:"UploadIdMarker"`
	NextKeyMarker      string
	NextUploadIDMarker string `xml:"NextUploadIdMarker"`
	Prefix             string
	MaxUploads         int
	IsTruncated        bool
	Uploads            []uploadEntry `xml:"Upload"`
}

type uploadEntry struct {
	Key          string
	UploadID     string `xml:"UploadId"`
	Initiated    string
	StorageClass string
	Owner        owner
	Initiator    owner
}

func (s *Server) listUploads(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:ListBucketMultipartUploads")
	if err != nil {
		return err
	}
	max := 1000
	if v := req.q.Get("max-uploads"); v != "" {
		if max, err = strconv.Atoi(v); err != nil || max < 0 {
			return invalidArgument("max-uploads must be a non-negative integer")
		}
		max = min(max, 1000)
	}
	prefix, keyMarker := req.q.Get("prefix"), req.q.Get("key-marker")
	rows, err := s.db.Query(req.r.Context(), `SELECT id, key, initiated FROM uploads WHERE bucket = ? AND key > ? ORDER BY key, initiated, id`,
		b.Name, keyMarker)
	if err != nil {
		return err
	}
	defer rows.Close()
	res := listUploadsResult{NS: s3NS, Bucket: b.Name, KeyMarker: keyMarker, Prefix: prefix, MaxUploads: max}
	own := owner{ID: b.ProjectID, DisplayName: b.ProjectID}
	for rows.Next() {
		var e uploadEntry
		var initiated int64
		if err := rows.Scan(&e.UploadID, &e.Key, &initiated); err != nil {
			return err
		}
		if !strings.HasPrefix(e.Key, prefix) {
			continue
		}
		if len(res.Uploads) == max {
			res.IsTruncated = true
			break
		}
		e.Initiated, e.StorageClass, e.Owner, e.Initiator = xmlTime(initiated), "STANDARD", own, own
		res.Uploads = append(res.Uploads, e)
		res.NextKeyMarker, res.NextUploadIDMarker = e.Key, e.UploadID
	}
	return writeXML(req.w, http.StatusOK, res)
}
