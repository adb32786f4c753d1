package objectstore

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 2, for old clients, when Config.SigV2 allows it:
// the header "Authorization: AWS <access key>:<signature>" and presigned
// URLs (AWSAccessKeyId, Expires, Signature). The signature covers the
// method, Content-MD5, Content-Type, the date, every x-amz-* header and the
// resource, not the body; a Content-MD5 sent with it is checked as always.

// v2Subresources are the query parameters a V2 signature covers.
var v2Subresources = map[string]bool{
	"accelerate": true, "acl": true, "cors": true, "delete": true, "encryption": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "notification": true, "object-lock": true, "partNumber": true, "policy": true,
	"publicAccessBlock": true, "ownershipControls": true, "requestPayment": true, "restore": true, "retention": true,
	"tagging": true, "torrent": true, "uploadId": true, "uploads": true, "versionId": true, "versioning": true,
	"versions": true, "website": true, "attributes": true,
	"response-content-type": true, "response-content-language": true, "response-expires": true,
	"response-cache-control": true, "response-content-disposition": true, "response-content-encoding": true,
}

var errSigV2Off = s3err(http.StatusBadRequest, "InvalidRequest", "Only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported.")

// verifyV2Header verifies "Authorization: AWS <access key>:<signature>".
func (s *Server) verifyV2Header(r *http.Request, authz string) (*signed, error) {
	if !s.cfg.SigV2 {
		return nil, errSigV2Off
	}
	access, signature, ok := strings.Cut(strings.TrimPrefix(authz, "AWS "), ":")
	if !ok || access == "" || signature == "" {
		return nil, errAuthHeaderMalformed
	}
	date := r.Header.Get("X-Amz-Date")
	if date == "" {
		date = r.Header.Get("Date")
	}
	t, err := http.ParseTime(date)
	if err != nil {
		return nil, s3err(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
	}
	if d := time.Since(t); d > maxClockSkew || d < -maxClockSkew {
		return nil, errRequestTimeSkewed
	}
	dateLine := r.Header.Get("Date")
	if r.Header.Get("X-Amz-Date") != "" {
		dateLine = "" // x-amz-date is signed among the x-amz-* headers instead
	}
	return s.verifyV2(r, access, signature, dateLine, r.URL.Query())
}

// verifyV2Query verifies a V2 presigned URL.
func (s *Server) verifyV2Query(r *http.Request, q url.Values) (*signed, error) {
	if !s.cfg.SigV2 {
		return nil, errSigV2Off
	}
	expires, err := strconv.ParseInt(q.Get("Expires"), 10, 64)
	if err != nil || q.Get("Signature") == "" {
		return nil, s3err(http.StatusForbidden, "AccessDenied", "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters")
	}
	at := time.Unix(expires, 0)
	if time.Now().After(at) {
		return nil, errExpiredToken
	}
	if at.After(time.Now().Add(maxPresignExpiry)) {
		return nil, s3err(http.StatusBadRequest, "AuthorizationQueryParametersError", "A presigned URL may be valid for at most 7 days")
	}
	return s.verifyV2(r, q.Get("AWSAccessKeyId"), q.Get("Signature"), q.Get("Expires"), q)
}

func (s *Server) verifyV2(r *http.Request, access, signature, dateLine string, q url.Values) (*signed, error) {
	cred, err := s.creds(r.Context(), access)
	if err != nil {
		return nil, credentialError(err)
	}
	got, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return nil, errSignatureMismatch
	}
	// The resource as the client may have encoded it: as sent, or as
	// S3's encoding gives it. Each names the same key.
	for _, path := range v2Paths(r) {
		m := hmac.New(sha1.New, []byte(cred.Secret))
		m.Write([]byte(v2StringToSign(r, dateLine, s.v2Resource(r, path, q))))
		if hmac.Equal(m.Sum(nil), got) {
			owner := cred.Owner
			return &signed{owner: &owner, payload: unsignedPayload}, nil
		}
	}
	return nil, errSignatureMismatch
}

func v2Paths(r *http.Request) []string {
	raw, _, _ := strings.Cut(r.RequestURI, "?")
	paths := []string{r.URL.EscapedPath(), uriEncode(r.URL.Path, false)}
	if raw != "" && raw != paths[0] {
		paths = append(paths, raw)
	}
	return paths
}

// v2Resource is the CanonicalizedResource: the bucket (virtual-host
// style), the path and the subresources of the query.
func (s *Server) v2Resource(r *http.Request, path string, q url.Values) string {
	var b strings.Builder
	if s.cfg.Domain != "" {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if bucket, ok := strings.CutSuffix(host, "."+s.cfg.Domain); ok && bucket != "" {
			b.WriteString("/" + bucket)
		}
	}
	b.WriteString(path)
	var subs []string
	for k := range q {
		if v2Subresources[k] {
			subs = append(subs, k)
		}
	}
	sort.Strings(subs)
	for i, k := range subs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(k)
		if v := q.Get(k); v != "" {
			b.WriteString("=" + v)
		}
	}
	return b.String()
}

// v2StringToSign is SigV2's string to sign.
func v2StringToSign(r *http.Request, dateLine, resource string) string {
	var b strings.Builder
	b.WriteString(r.Method + "\n" + r.Header.Get("Content-Md5") + "\n" + r.Header.Get("Content-Type") + "\n" + dateLine + "\n")
	var names []string
	for name := range r.Header {
		if lower := strings.ToLower(name); strings.HasPrefix(lower, "x-amz-") {
			names = append(names, lower)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		var vals []string
		for _, v := range r.Header.Values(name) {
			vals = append(vals, strings.TrimSpace(v))
		}
		b.WriteString(name + ":" + strings.Join(vals, ",") + "\n")
	}
	b.WriteString(resource)
	return b.String()
}
