package objectstore

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// copySource resolves x-amz-copy-source ("bucket/key?versionId=…", URL
// encoded) to a readable object, checking the caller may read it.
func (s *Server) copySource(req *request) (*object, error) {
	src := req.r.Header.Get("X-Amz-Copy-Source")
	src, rawQuery, _ := strings.Cut(src, "?")
	path, err := url.PathUnescape(strings.TrimPrefix(src, "/"))
	if err != nil {
		return nil, invalidArgument("Invalid copy source encoding")
	}
	bucketName, key, ok := strings.Cut(path, "/")
	if !ok || key == "" {
		return nil, invalidArgument("Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
	}
	q, _ := url.ParseQuery(rawQuery)
	ctx := req.r.Context()
	b, err := s.getBucket(ctx, bucketName)
	if err != nil {
		return nil, err
	}
	o, err := s.readableObject(req, b, key, q.Get("versionId"), "s3:GetObject")
	if err != nil {
		return nil, err
	}
	if o.DeleteMarker {
		return nil, errNoSuchKey
	}
	h := req.r.Header
	modified := time.UnixMicro(o.Modified).UTC()
	cond := &http.Request{Header: http.Header{}}
	for from, to := range map[string]string{"X-Amz-Copy-Source-If-Match": "If-Match", "X-Amz-Copy-Source-If-None-Match": "If-None-Match",
		"X-Amz-Copy-Source-If-Modified-Since": "If-Modified-Since", "X-Amz-Copy-Source-If-Unmodified-Since": "If-Unmodified-Since"} {
		if v := h.Get(from); v != "" {
			cond.Header.Set(to, v)
		}
	}
	if checkConditions(cond, o.ETag, modified) != 0 {
		return nil, errPreconditionFailed
	}
	return o, nil
}

// copied is what copyData wrote: the data to keep inline or a committed
// blob; the digests of the plaintext and the ETag of the copy.
type copied struct {
	inline []byte
	blob   string
	d      *digests
	etag   string
}

// copyData copies length bytes at start of an object's plaintext (src
// opens it), sealed by dst, into a new blob, or into memory when inline
// allows and they are few enough; checksumAlg names the checksum to compute.
func (s *Server) copyData(ctx context.Context, o *object, src *sealing, start, length int64, inline bool, dst *sealing, checksumAlg string) (*copied, error) {
	data, closeData, err := s.openData(ctx, o, src.dataKey)
	if err != nil {
		return nil, err
	}
	defer closeData()
	k, err := s.newSink(length, inline)
	if err != nil {
		return nil, err
	}
	c := &copied{d: newDigests(checksumAlg, false)}
	sw, finish, err := dst.sealTo(k)
	if err == nil {
		_, err = io.Copy(io.MultiWriter(sw, c.d), io.NewSectionReader(data, start, length))
	}
	if err == nil {
		c.etag, err = finish(c.d)
	}
	if err != nil {
		k.abort()
		return nil, err
	}
	c.inline, c.blob, err = k.done()
	return c, err
}

type copyResult struct {
	XMLName      xml.Name
	NS           string `xml:"xmlns,attr"`
	ETag         string
	LastModified string
}

func (s *Server) copyObject(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:PutObject")
	if err != nil {
		return err
	}
	if err := checkNewKey(req.key); err != nil {
		return err
	}
	src, err := s.copySource(req)
	if err != nil {
		return err
	}
	directive := req.r.Header.Get("X-Amz-Metadata-Directive")
	if directive != "" && directive != "COPY" && directive != "REPLACE" {
		return invalidArgument("Unknown metadata directive.")
	}
	srcSealing, err := s.openSealing(req, src.Enc, copySSECHeaders)
	if err != nil {
		return err
	}
	z, err := s.newSealing(req, b)
	if err != nil {
		return err
	}
	o := &object{Bucket: b.Name, Key: req.key, Modified: time.Now().UnixMicro(), ContentType: src.ContentType, Headers: src.Headers,
		Tags: src.Tags, Size: src.Size, ChecksumAlg: src.ChecksumAlg, Enc: z.enc}
	if directive == "REPLACE" {
		fresh, err := newObjectFromRequest(req)
		if err != nil {
			return err
		}
		o.ContentType, o.Headers = fresh.ContentType, fresh.Headers
	} else if src.Bucket == b.Name && src.Key == req.key && req.q.Get("versionId") == "" && b.Versioning != "Enabled" && z.enc.Alg == src.Enc.Alg && z.enc.Alg != sseC {
		return s3err(http.StatusBadRequest, "InvalidRequest", "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
	}
	if td := req.r.Header.Get("X-Amz-Tagging-Directive"); td == "REPLACE" {
		if o.Tags, err = parseTagHeader(req.r.Header.Get("X-Amz-Tagging")); err != nil {
			return err
		}
	}
	if o.ACL, err = aclFromHeaders(req.r.Header); err != nil {
		return err
	}
	if err := lockFromRequest(req, b, o); err != nil { // a copy takes no lock from its source
		return err
	}
	if err := checkACL(b, o.ACL); err != nil {
		return err
	}
	c, err := s.copyData(req.r.Context(), src, srcSealing, 0, src.Size, true, z, src.ChecksumAlg)
	if err != nil {
		return err
	}
	o.Inline, o.Blob, o.ETag, o.Checksum = c.inline, c.blob, c.etag, c.d.checksumValue()
	freed, err := s.storeObject(req.r.Context(), b, o, conditions{})
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
	return writeXML(req.w, http.StatusOK, copyResult{XMLName: xml.Name{Local: "CopyObjectResult"}, NS: s3NS,
		ETag: `"` + o.ETag + `"`, LastModified: xmlTime(o.Modified)})
}

func (s *Server) uploadPartCopy(req *request) error {
	b, u, num, err := s.partTarget(req)
	if err != nil {
		return err
	}
	src, err := s.copySource(req)
	if err != nil {
		return err
	}
	start, length := int64(0), src.Size
	if rng := req.r.Header.Get("X-Amz-Copy-Source-Range"); rng != "" {
		var first, last int64
		if n, _ := fmt.Sscanf(rng, "bytes=%d-%d", &first, &last); n != 2 || rng != fmt.Sprintf("bytes=%d-%d", first, last) || first < 0 || first > last {
			return invalidArgument("The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy")
		}
		if last >= src.Size {
			return invalidArgument("Range specified is not valid for source object of size: %d", src.Size)
		}
		start, length = first, last-first+1
	}
	srcSealing, err := s.openSealing(req, src.Enc, copySSECHeaders)
	if err != nil {
		return err
	}
	z, err := s.openSealing(req, u.Enc, sseCHeaders)
	if err != nil {
		return err
	}
	c, err := s.copyData(req.r.Context(), src, srcSealing, start, length, false, z, u.ChecksumAlg)
	if err != nil {
		return err
	}
	etag := c.etag
	if err := s.storePart(req, b, u, num, length, etag, c.d.checksumValue(), c.blob); err != nil {
		return err
	}
	z.headers(req.w.Header())
	return writeXML(req.w, http.StatusOK, copyResult{XMLName: xml.Name{Local: "CopyPartResult"}, NS: s3NS,
		ETag: `"` + etag + `"`, LastModified: xmlTime(time.Now().UnixMicro())})
}

type deleteRequest struct {
	XMLName xml.Name `xml:"Delete"`
	Quiet   bool
	Objects []struct {
		Key       string
		VersionID string `xml:"VersionId"`
		ETag      string // delete only if the object's ETag is this one
	} `xml:"Object"`
}

type deleteResult struct {
	XMLName xml.Name       `xml:"DeleteResult"`
	NS      string         `xml:"xmlns,attr"`
	Deleted []deletedEntry `xml:"Deleted"`
	Errors  []deleteError  `xml:"Error"`
}

type deletedEntry struct {
	Key                   string
	VersionID             string `xml:"VersionId,omitempty"`
	DeleteMarker          bool   `xml:",omitempty"`
	DeleteMarkerVersionID string `xml:"DeleteMarkerVersionId,omitempty"`
}

type deleteError struct {
	Key       string
	VersionID string `xml:"VersionId,omitempty"`
	Code      string
	Message   string
}

func (s *Server) deleteObjects(req *request) error {
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return err
	}
	// Without a policy every key gets the same answer: give it once.
	if b.Policy == "" {
		if err := s.authorize(req, b, "", accessWrite, "s3:DeleteObject", ""); err != nil {
			return err
		}
	}
	body, err := readSmallBody(req, 2<<20)
	if err != nil {
		return err
	}
	var dr deleteRequest
	if xml.Unmarshal(body, &dr) != nil || len(dr.Objects) == 0 || len(dr.Objects) > 1000 {
		return errMalformedXML
	}
	res := deleteResult{NS: s3NS}
	for _, o := range dr.Objects {
		err := s.authorize(req, b, o.Key, accessWrite, versionAction("s3:DeleteObject", o.VersionID), "")
		var rm removed
		if err == nil {
			rm, err = s.removeObject(req.r.Context(), b, o.Key, o.VersionID, o.ETag, s.bypassGovernance(req, b, o.Key))
		}
		if err != nil {
			code, msg := "InternalError", "We encountered an internal error. Please try again."
			if e, ok := err.(*Error); ok {
				code, msg = e.Code, e.Message
			}
			res.Errors = append(res.Errors, deleteError{Key: o.Key, VersionID: o.VersionID, Code: code, Message: msg})
			continue
		}
		if dr.Quiet {
			continue
		}
		e := deletedEntry{Key: o.Key, VersionID: o.VersionID}
		if rm.deleteMarker {
			e.DeleteMarker = true
			if o.VersionID == "" {
				e.DeleteMarkerVersionID = rm.versionID
			}
		}
		res.Deleted = append(res.Deleted, e)
	}
	return writeXML(req.w, http.StatusOK, res)
}
