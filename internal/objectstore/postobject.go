package objectstore

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/objectstore/postpolicy"
)

// Browser uploads (POST Object): an HTML form posts the object to its
// bucket, with a POST policy the key's owner signed (AWS Signature V4) that
// says what the form may contain and how large the file may be. Without a
// policy the upload is anonymous and needs a bucket policy that allows it.

// maxPostFields is how large the fields before the file may be, as AWS has it.
const maxPostFields = 20 << 10

// postForm is a parsed upload form: its fields (names in lower case, as
// AWS compares them) and the file part, left unread.
type postForm struct {
	fields   map[string]string
	names    map[string]string // lower case -> as sent, for error messages
	file     *multipart.Part
	filename string
}

func readPostForm(r *http.Request) (*postForm, error) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, s3err(http.StatusPreconditionFailed, "PreconditionFailed", "Bucket POST must be of the enclosure-type multipart/form-data")
	}
	mr := multipart.NewReader(r.Body, params["boundary"])
	f := &postForm{fields: map[string]string{}, names: map[string]string{}}
	size := 0
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return nil, invalidArgument("POST requires exactly one file upload per request.")
		}
		if err != nil {
			return nil, errMalformedPOST
		}
		name := strings.ToLower(p.FormName())
		if name == "file" {
			f.file, f.filename = p, p.FileName()
			return f, nil
		}
		v, err := io.ReadAll(io.LimitReader(p, int64(maxPostFields-size+1)))
		size += len(v) + len(name)
		if err != nil {
			return nil, errMalformedPOST
		}
		if size > maxPostFields {
			return nil, s3err(http.StatusBadRequest, "MaxPostPreDataLengthExceeded", "Your POST request fields preceding the upload file were too large.")
		}
		if _, dup := f.fields[name]; dup {
			return nil, invalidArgument("The form field %s is given more than once.", p.FormName())
		}
		f.fields[name], f.names[name] = string(v), p.FormName()
	}
}

var errMalformedPOST = s3err(http.StatusBadRequest, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data.")

// postFieldHeaders are the form fields that stand for a PUT's headers.
var postFieldHeaders = map[string]string{
	"acl": "X-Amz-Acl", "content-type": "Content-Type", "cache-control": "Cache-Control", "content-disposition": "Content-Disposition",
	"content-encoding": "Content-Encoding", "content-language": "Content-Language", "expires": "Expires",
	"x-amz-server-side-encryption": "X-Amz-Server-Side-Encryption", "x-amz-storage-class": "X-Amz-Storage-Class",
	"x-amz-server-side-encryption-customer-algorithm": sseCHeaders + "Algorithm", "x-amz-server-side-encryption-customer-key": sseCHeaders + "Key",
	"x-amz-server-side-encryption-customer-key-md5": sseCHeaders + "Key-Md5", "x-amz-website-redirect-location": "X-Amz-Website-Redirect-Location",
}

// postFieldsKnown are the other fields the upload reads.
var postFieldsKnown = map[string]bool{
	"key": true, "policy": true, "tagging": true, "success_action_status": true, "success_action_redirect": true, "redirect": true,
	"x-amz-algorithm": true, "x-amz-credential": true, "x-amz-date": true, "x-amz-signature": true, "awsaccesskeyid": true, "signature": true,
}

// postObject serves a browser upload.
func (s *Server) postObject(req *request) error {
	ctx := req.r.Context()
	b, err := s.getBucket(ctx, req.bucket)
	if err != nil {
		return err
	}
	form, err := readPostForm(req.r)
	if err != nil {
		return err
	}
	fields := form.fields
	key, ok := fields["key"]
	if !ok || key == "" {
		return invalidArgument("Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.")
	}
	key = strings.ReplaceAll(key, "${filename}", form.filename)
	// What the form asks is taken as the headers of a PUT.
	h := http.Header{}
	for name, v := range fields {
		switch header, ok := postFieldHeaders[name]; {
		case ok:
			h.Set(header, v)
		case strings.HasPrefix(name, "x-amz-meta-"):
			h.Set(name, v)
		case postFieldsKnown[name] || strings.HasPrefix(name, "x-ignore-"):
		case strings.HasPrefix(name, "x-amz-"):
			return s3err(http.StatusNotImplemented, "NotImplemented", "The form field %s implies functionality that is not implemented.", form.names[name])
		}
	}
	if storage := h.Get("X-Amz-Storage-Class"); storage != "" && storage != "STANDARD" {
		return s3err(http.StatusNotImplemented, "NotImplemented", "Storage class %s is not implemented; objects are stored as STANDARD.", storage)
	}
	maxSize := s.cfg.MaxObjectSize
	minSize := int64(0)
	if _, ok := fields["policy"]; ok {
		owner, lengths, err := s.checkPostPolicy(req, b, form, key)
		if err != nil {
			return err
		}
		req.sig = &signed{owner: owner, payload: unsignedPayload}
		if lengths != nil {
			minSize, maxSize = lengths[0], min(lengths[1], maxSize)
		}
	} else if fields["x-amz-signature"] != "" || fields["awsaccesskeyid"] != "" {
		return invalidArgument("Bucket POST must contain a field named 'policy'.  If it is specified, please check the order of the fields.")
	}
	put := req.r.Clone(ctx)
	put.Header = h
	preq := &request{w: req.w, r: put, q: url.Values{}, sig: req.sig, id: req.id, bucket: b.Name, key: key}
	if err := s.authorize(preq, b, key, accessWrite, "s3:PutObject", ""); err != nil {
		return err
	}
	if err := checkNewKey(key); err != nil {
		return err
	}
	o, err := newObjectFromRequest(preq)
	if err != nil {
		return err
	}
	if v, ok := fields["tagging"]; ok {
		var t tagging
		if xml.Unmarshal([]byte(v), &t) != nil {
			return errMalformedXML
		}
		if o.Tags, err = encodeTags(t.TagSet, maxObjectTags); err != nil {
			return err
		}
	}
	if err := checkACL(b, o.ACL); err != nil {
		return err
	}
	z, err := s.newSealing(preq, b)
	if err != nil {
		return err
	}
	o.Enc = z.enc
	if err := s.receiveForm(preq, o, z, form.file, minSize, maxSize); err != nil {
		return err
	}
	freed, err := s.storeObject(ctx, b, o, conditions{})
	if err != nil {
		s.data.remove(o.Blob)
		return err
	}
	for _, id := range freed {
		s.data.remove(id)
	}
	return postAnswer(req, b, o, z, fields)
}

// receiveForm stores the file of a form as o's data: in its row when
// small, else in a blob; its size must be within [minSize, maxSize].
func (s *Server) receiveForm(req *request, o *object, z *sealing, file io.Reader, minSize, maxSize int64) error {
	d := newDigests("", false)
	head, err := io.ReadAll(io.LimitReader(file, inlineMax+1))
	if err != nil {
		return errMalformedPOST
	}
	d.Write(head)
	k, err := s.newSink(int64(len(head)), true)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		k.abort()
		return err
	}
	sw, finish, err := z.sealTo(k)
	if err != nil {
		return fail(err)
	}
	if _, err := sw.Write(head); err != nil {
		return fail(err)
	}
	n, err := io.Copy(io.MultiWriter(sw, d), io.LimitReader(file, maxSize-int64(len(head))+1))
	if err != nil {
		return fail(errMalformedPOST)
	}
	o.Size = int64(len(head)) + n
	switch {
	case o.Size > maxSize:
		return fail(s3err(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size"))
	case o.Size < minSize:
		return fail(s3err(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size"))
	}
	if o.ETag, err = finish(d); err != nil {
		return fail(err)
	}
	o.Inline, o.Blob, err = k.done()
	return err
}

type postResponse struct {
	XMLName  xml.Name `xml:"PostResponse"`
	Location string
	Bucket   string
	Key      string
	ETag     string
}

// postAnswer answers a stored upload as the form asks: a redirect, 200,
// 201 with a PostResponse, or 204.
func postAnswer(req *request, b *bucket, o *object, z *sealing, fields map[string]string) error {
	scheme := "http"
	if req.r.TLS != nil {
		scheme = "https"
	}
	location := scheme + "://" + req.r.Host + "/" + b.Name + "/" + uriEncode(o.Key, false)
	h := req.w.Header()
	h.Set("ETag", `"`+o.ETag+`"`)
	h.Set("Location", location)
	if b.Versioning != "" {
		h.Set("X-Amz-Version-Id", o.VersionID)
	}
	z.headers(h)
	redirect := fields["success_action_redirect"]
	if redirect == "" {
		redirect = fields["redirect"]
	}
	if u, err := url.Parse(redirect); redirect != "" && err == nil && (u.Scheme == "http" || u.Scheme == "https") {
		q := u.Query()
		q.Set("bucket", b.Name)
		q.Set("key", o.Key)
		q.Set("etag", `"`+o.ETag+`"`)
		u.RawQuery = q.Encode()
		h.Set("Location", u.String())
		req.w.WriteHeader(http.StatusSeeOther)
		return nil
	}
	switch fields["success_action_status"] {
	case "200":
		req.w.WriteHeader(http.StatusOK)
	case "201":
		return writeXML(req.w, http.StatusCreated, postResponse{Location: location, Bucket: b.Name, Key: o.Key, ETag: `"` + o.ETag + `"`})
	default:
		req.w.WriteHeader(http.StatusNoContent)
	}
	return nil
}

// checkPostPolicy verifies the form's signature over its policy and the
// policy's conditions; it returns who signed and the content-length-range
// ([min, max]) when the policy has one.
func (s *Server) checkPostPolicy(req *request, b *bucket, form *postForm, key string) (*Owner, []int64, error) {
	f := form.fields
	cred, err := s.postSigner(req, f)
	if err != nil {
		return nil, nil, err
	}
	// The values conditions compare: the fields as posted, the bucket, and
	// the key after ${filename}.
	values := map[string]string{}
	for k, v := range f {
		values[k] = v
	}
	values["bucket"], values["key"] = b.Name, key
	covered, lengths, err := postpolicy.Check(f["policy"], values, time.Now())
	var pe *postpolicy.Error
	if errors.As(err, &pe) {
		return nil, nil, s3err(pe.Status, pe.Code, "%s", pe.Message)
	}
	if err != nil {
		return nil, nil, err
	}
	// Every field must be named by a condition, but for the signature, the
	// policy, x-ignore-* and (as MinIO has it, which minio-go's
	// PostPolicy.SetEncryption relies on) the encryption fields: those can
	// only seal the upload, not widen what it may do.
	for name := range f {
		if name == "policy" || name == "x-amz-signature" || name == "signature" || name == "awsaccesskeyid" || strings.HasPrefix(name, "x-ignore-") ||
			strings.HasPrefix(name, "x-amz-server-side-encryption") || covered[name] {
			continue
		}
		return nil, nil, s3err(http.StatusForbidden, "AccessDenied", "Invalid according to Policy: Extra input fields: %s", form.names[name])
	}
	owner := cred.Owner
	return &owner, lengths, nil
}

// postSigner verifies the signature of a form's policy, SigV4 (or SigV2
// when allowed), and returns the signer's credential.
func (s *Server) postSigner(req *request, f map[string]string) (*Credential, error) {
	if f["x-amz-algorithm"] == "" && f["awsaccesskeyid"] != "" {
		if !s.cfg.SigV2 {
			return nil, errSigV2Off
		}
		cred, err := s.creds(req.r.Context(), f["awsaccesskeyid"])
		if err != nil {
			return nil, credentialError(err)
		}
		m := hmac.New(sha1.New, []byte(cred.Secret))
		m.Write([]byte(f["policy"]))
		if got, err := base64.StdEncoding.DecodeString(f["signature"]); err != nil || !hmac.Equal(m.Sum(nil), got) {
			return nil, errSignatureMismatch
		}
		return cred, nil
	}
	if f["x-amz-algorithm"] != sigV4Algorithm {
		return nil, invalidArgument("x-amz-algorithm must be AWS4-HMAC-SHA256 when a policy is given.")
	}
	var p sigParams
	if !p.parseCredential(f["x-amz-credential"]) || p.service != "s3" {
		return nil, invalidArgument("The x-amz-credential field is not valid: it must be <access key>/<date>/<region>/s3/aws4_request.")
	}
	if _, err := time.Parse(amzDateFormat, f["x-amz-date"]); err != nil || !strings.HasPrefix(f["x-amz-date"], p.date) {
		return nil, invalidArgument("The x-amz-date field is not valid.")
	}
	cred, err := s.creds(req.r.Context(), p.access)
	if err != nil {
		return nil, credentialError(err)
	}
	want := hex.EncodeToString(hmacSHA256(signingKey(cred.Secret, p.date, p.region, p.service), f["policy"]))
	if !hmac.Equal([]byte(want), []byte(f["x-amz-signature"])) {
		return nil, errSignatureMismatch
	}
	return cred, nil
}
