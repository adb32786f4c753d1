package objectstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// AWS Signature Version 4, as S3 verifies it: header authorization,
// presigned URLs (query) and the streaming variants (see chunked.go).

const (
	sigV4Algorithm   = "AWS4-HMAC-SHA256"
	amzDateFormat    = "20060102T150405Z"
	unsignedPayload  = "UNSIGNED-PAYLOAD"
	streamingSigned  = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
	streamingSignedT = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
	streamingUnsignT = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
	maxClockSkew     = 15 * time.Minute
	maxPresignExpiry = 7 * 24 * time.Hour
	emptySHA256      = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
)

// Owner is the identity behind an access key.
type Owner struct {
	UserID    string
	ProjectID string
	// ReadOnly is set when the user holds only the reader role on the project.
	ReadOnly bool
}

// Credential is an access key's secret and owner.
type Credential struct {
	Secret string
	Owner
}

// CredentialLookup resolves an access key; any error means the key is unknown.
type CredentialLookup func(ctx context.Context, accessKey string) (*Credential, error)

// signed is the outcome of verifying a request's signature.
type signed struct {
	owner *Owner // nil for an anonymous request
	// payload is the x-amz-content-sha256 value the signature covers: a hex
	// SHA-256 to check the body against, UNSIGNED-PAYLOAD or a STREAMING-* mode.
	payload string
	// For streaming payloads: the signing key, scope, date and seed signature.
	key                   []byte
	scope, date, seedSign string
}

// sigParams are the fields of an Authorization header or presigned query.
type sigParams struct {
	access, date, region, service, signedHeaders, signature string
	amzDate                                                 string
}

// parseCredential splits "AKID/20130524/us-east-1/s3/aws4_request".
func (p *sigParams) parseCredential(cred string) bool {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" || parts[0] == "" {
		return false
	}
	p.access, p.date, p.region, p.service = parts[0], parts[1], parts[2], parts[3]
	return true
}

func (p *sigParams) scope() string {
	return p.date + "/" + p.region + "/" + p.service + "/aws4_request"
}

// authenticate verifies the signature of r and returns who signed it.
func (s *Server) authenticate(r *http.Request) (*signed, error) {
	authz := r.Header.Get("Authorization")
	q := r.URL.Query()
	switch {
	case strings.HasPrefix(authz, sigV4Algorithm+" "):
		return s.verifyHeader(r, authz)
	case q.Get("X-Amz-Algorithm") != "":
		return s.verifyPresigned(r, q)
	case strings.HasPrefix(authz, "AWS "):
		return s.verifyV2Header(r, authz)
	case q.Get("AWSAccessKeyId") != "" && authz == "":
		return s.verifyV2Query(r, q)
	case authz != "":
		return nil, s3err(http.StatusBadRequest, "InvalidRequest", "Only AWS Signature Version 4 (AWS4-HMAC-SHA256) is supported.")
	}
	return &signed{payload: unsignedPayload}, nil
}

func (s *Server) verifyHeader(r *http.Request, authz string) (*signed, error) {
	var p sigParams
	for _, field := range strings.Split(strings.TrimPrefix(authz, sigV4Algorithm+" "), ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return nil, errAuthHeaderMalformed
		}
		switch k {
		case "Credential":
			if !p.parseCredential(v) {
				return nil, errAuthHeaderMalformed
			}
		case "SignedHeaders":
			p.signedHeaders = v
		case "Signature":
			p.signature = v
		}
	}
	if p.access == "" || p.signedHeaders == "" || p.signature == "" {
		return nil, errAuthHeaderMalformed
	}
	p.amzDate = r.Header.Get("X-Amz-Date")
	if p.amzDate == "" {
		p.amzDate = r.Header.Get("Date")
	}
	t, err := time.Parse(amzDateFormat, p.amzDate)
	if err != nil {
		return nil, s3err(http.StatusForbidden, "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")
	}
	if d := time.Since(t); d > maxClockSkew || d < -maxClockSkew {
		return nil, errRequestTimeSkewed
	}
	if !strings.HasPrefix(p.amzDate, p.date) {
		return nil, errAuthHeaderMalformed
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = emptySHA256
		if r.ContentLength != 0 {
			payload = unsignedPayload
		}
	}
	return s.verify(r, &p, r.URL.Query(), payload)
}

func (s *Server) verifyPresigned(r *http.Request, q url.Values) (*signed, error) {
	if q.Get("X-Amz-Algorithm") != sigV4Algorithm {
		return nil, s3err(http.StatusBadRequest, "AuthorizationQueryParametersError", "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"")
	}
	var p sigParams
	if !p.parseCredential(q.Get("X-Amz-Credential")) {
		return nil, s3err(http.StatusBadRequest, "AuthorizationQueryParametersError", "Error parsing the X-Amz-Credential parameter")
	}
	p.amzDate, p.signedHeaders, p.signature = q.Get("X-Amz-Date"), q.Get("X-Amz-SignedHeaders"), q.Get("X-Amz-Signature")
	t, err := time.Parse(amzDateFormat, p.amzDate)
	if err != nil || p.signedHeaders == "" || p.signature == "" || !strings.HasPrefix(p.amzDate, p.date) {
		return nil, s3err(http.StatusBadRequest, "AuthorizationQueryParametersError", "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
	}
	expires, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || expires < 0 || time.Duration(expires)*time.Second > maxPresignExpiry {
		return nil, s3err(http.StatusBadRequest, "AuthorizationQueryParametersError", "X-Amz-Expires must be a number of seconds between 0 and 604800")
	}
	if time.Now().After(t.Add(time.Duration(expires) * time.Second)) {
		return nil, errExpiredToken
	}
	if t.After(time.Now().Add(maxClockSkew)) {
		return nil, errRequestTimeSkewed
	}
	payload := q.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = unsignedPayload
	}
	canonQuery := url.Values{}
	for k, v := range q {
		if k != "X-Amz-Signature" {
			canonQuery[k] = v
		}
	}
	return s.verify(r, &p, canonQuery, payload)
}

// verify recomputes the signature over the canonical request and compares.
func (s *Server) verify(r *http.Request, p *sigParams, query url.Values, payload string) (*signed, error) {
	cred, err := s.creds(r.Context(), p.access)
	if err != nil {
		return nil, credentialError(err)
	}
	if err := checkSignedHeaders(r, p.signedHeaders); err != nil {
		return nil, err
	}
	canon := canonicalRequest(r, query, p.signedHeaders, payload)
	sum := sha256.Sum256([]byte(canon))
	toSign := sigV4Algorithm + "\n" + p.amzDate + "\n" + p.scope() + "\n" + hex.EncodeToString(sum[:])
	key := signingKey(cred.Secret, p.date, p.region, p.service)
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(p.signature)) {
		return nil, errSignatureMismatch
	}
	owner := cred.Owner
	return &signed{owner: &owner, payload: payload, key: key, scope: p.scope(), date: p.amzDate, seedSign: p.signature}, nil
}

// checkSignedHeaders is the one place that decides whether a request's
// header set is covered by its signature, for header-signed and presigned
// requests alike: host and every x-amz-* header present must be signed,
// as AWS requires. Otherwise a presigned URL could carry, say, an unsigned
// x-amz-copy-source or x-amz-acl the signer never meant.
func checkSignedHeaders(r *http.Request, signedHeaders string) error {
	signed := map[string]bool{}
	for _, h := range strings.Split(signedHeaders, ";") {
		signed[h] = true
	}
	var missing []string
	if !signed["host"] {
		missing = append(missing, "host")
	}
	for name := range r.Header {
		if h := strings.ToLower(name); strings.HasPrefix(h, "x-amz-") && !signed[h] {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return s3err(http.StatusForbidden, "AccessDenied", "There were headers present in the request which were not signed: %s", strings.Join(missing, ", "))
	}
	return nil
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func signingKey(secret, date, region, service string) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k, region)
	k = hmacSHA256(k, service)
	return hmacSHA256(k, "aws4_request")
}

// canonicalRequest builds SigV4's canonical request for r.
func canonicalRequest(r *http.Request, query url.Values, signedHeaders, payload string) string {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	b.WriteString(uriEncode(r.URL.Path, false))
	b.WriteByte('\n')
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	first := true
	for _, k := range keys {
		vs := append([]string(nil), query[k]...)
		sort.Strings(vs)
		for _, v := range vs {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(uriEncode(k, true))
			b.WriteByte('=')
			b.WriteString(uriEncode(v, true))
		}
	}
	b.WriteByte('\n')
	for _, h := range strings.Split(signedHeaders, ";") {
		b.WriteString(h)
		b.WriteByte(':')
		b.WriteString(headerValue(r, h))
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	b.WriteString(signedHeaders)
	b.WriteByte('\n')
	b.WriteString(payload)
	return b.String()
}

// headerValue is the canonical value of a signed header: values joined by
// commas, trimmed, inner runs of spaces collapsed.
func headerValue(r *http.Request, name string) string {
	var vals []string
	switch name {
	case "host":
		vals = []string{r.Host}
	case "content-length":
		vals = []string{strconv.FormatInt(r.ContentLength, 10)}
	case "transfer-encoding":
		vals = r.TransferEncoding
	default:
		vals = r.Header.Values(name)
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = strings.Join(strings.Fields(v), " ")
	}
	return strings.Join(out, ",")
}

// uriEncode encodes s as SigV4 does: everything but unreserved characters
// (and '/', unless encodeSlash) becomes %XX.
func uriEncode(s string, encodeSlash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('A' <= c && c <= 'Z') || ('a' <= c && c <= 'z') || ('0' <= c && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encodeSlash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}
