package objectstore

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/store"
)

// Tagging, bucket policies and CORS: the configuration that rides along
// with buckets and objects (ACLs are in acl.go).

// Tags

// AWS's limits on tags: 10 on an object, 50 on a bucket.
const (
	maxObjectTags = 10
	maxBucketTags = 50
)

type tagging struct {
	XMLName xml.Name `xml:"Tagging"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	TagSet  []tag    `xml:"TagSet>Tag"`
}

type tag struct {
	Key   string
	Value string
}

// parseTagHeader checks the x-amz-tagging header of an object ("k1=v1&k2=v2").
func parseTagHeader(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	q, err := url.ParseQuery(v)
	if err != nil {
		return "", invalidArgument("The header 'x-amz-tagging' shall be encoded as UTF-8 then URLEncoded URL query parameters without tag name duplicates.")
	}
	tags := make([]tag, 0, len(q))
	for k, vs := range q {
		if len(vs) != 1 {
			return "", invalidArgument("Tag keys must be unique.")
		}
		tags = append(tags, tag{k, vs[0]})
	}
	return encodeTags(tags, maxObjectTags)
}

func encodeTags(tags []tag, max int) (string, error) {
	if len(tags) > max {
		if max == maxObjectTags {
			return "", s3err(http.StatusBadRequest, "BadRequest", "Object tags cannot be greater than 10")
		}
		return "", s3err(http.StatusBadRequest, "InvalidTag", "Bucket tag count cannot be greater than 50")
	}
	q := url.Values{}
	for _, t := range tags {
		if t.Key == "" || len(t.Key) > 128 || len(t.Value) > 256 || q.Has(t.Key) {
			return "", s3err(http.StatusBadRequest, "InvalidTag", "The tag provided was not a valid tag.")
		}
		q.Set(t.Key, t.Value)
	}
	return q.Encode(), nil
}

func decodeTags(s string) []tag {
	q, _ := url.ParseQuery(s)
	tags := []tag{}
	for k, vs := range q {
		tags = append(tags, tag{k, vs[0]})
	}
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.Key, b.Key) })
	return tags
}

// readTagging reads a Tagging body of at most max tags.
func (s *Server) readTagging(req *request, max int) (string, error) {
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return "", err
	}
	var t tagging
	if xml.Unmarshal(body, &t) != nil {
		return "", errMalformedXML
	}
	return encodeTags(t.TagSet, max)
}

func (s *Server) putObjectTagging(req *request) error {
	// The new tags are read first, as a policy may judge them
	// (s3:RequestObjectTag); a bad body is told only to who may write.
	tags, terr := s.readTagging(req, maxObjectTags)
	req.requestTags = &tags
	_, o, err := s.requestObject(req, accessWrite, "s3:PutObjectTagging")
	if err != nil {
		return err
	}
	if terr != nil {
		return terr
	}
	return s.setObjectField(req, o, "tags", tags)
}

func (s *Server) deleteObjectTagging(req *request) error {
	_, o, err := s.requestObject(req, accessWrite, "s3:DeleteObjectTagging")
	if err != nil {
		return err
	}
	if err := s.setObjectField(req, o, "tags", ""); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

// setObjectField updates the tags or acl column of one object version.
func (s *Server) setObjectField(req *request, o *object, column, value string) error {
	if err := store.Affected(s.db.Exec(req.r.Context(), `UPDATE objects SET `+column+` = ? WHERE bucket = ? AND key = ? AND version_id = ?`,
		value, o.Bucket, o.Key, o.VersionID)); err != nil {
		return errNoSuchKey
	}
	req.w.Header().Set("X-Amz-Version-Id", o.VersionID)
	if req.r.Method == http.MethodPut {
		req.w.WriteHeader(http.StatusOK)
	}
	return nil
}

func (s *Server) getObjectTagging(req *request) error {
	_, o, err := s.requestObject(req, accessRead, "s3:GetObjectTagging")
	if err != nil {
		return err
	}
	req.w.Header().Set("X-Amz-Version-Id", o.VersionID)
	return writeXML(req.w, http.StatusOK, tagging{NS: s3NS, TagSet: decodeTags(o.Tags)})
}

// setBucketField updates one configuration column of the request's bucket.
func (s *Server) setBucketField(req *request, column, value string, status int) error {
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET `+column+` = ? WHERE name = ?`, value, req.bucket); err != nil {
		return err
	}
	req.w.WriteHeader(status)
	return nil
}

func (s *Server) putBucketTagging(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutBucketTagging"); err != nil {
		return err
	}
	tags, err := s.readTagging(req, maxBucketTags)
	if err != nil {
		return err
	}
	return s.setBucketField(req, "tags", tags, http.StatusNoContent)
}

func (s *Server) getBucketTagging(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketTagging")
	if err != nil {
		return err
	}
	if b.Tags == "" {
		return errNoSuchTagSet
	}
	return writeXML(req.w, http.StatusOK, tagging{NS: s3NS, TagSet: decodeTags(b.Tags)})
}

func (s *Server) deleteBucketTagging(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutBucketTagging"); err != nil {
		return err
	}
	return s.setBucketField(req, "tags", "", http.StatusNoContent)
}

// Bucket policies

func (s *Server) putPolicy(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketPolicy")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 20<<10)
	if err != nil {
		return err
	}
	if _, err := parsePolicy(string(body), req.bucket); err != nil {
		return err
	}
	if b.publicAccess().BlockPublicPolicy && policyIsPublic(string(body)) {
		return s3err(http.StatusForbidden, "AccessDenied", "Access Denied: the bucket's public access block does not allow public policies.")
	}
	return s.setBucketField(req, "policy", string(body), http.StatusNoContent)
}

func (s *Server) getPolicy(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketPolicy")
	if err != nil {
		return err
	}
	if b.Policy == "" {
		return errNoSuchPolicy
	}
	req.w.Header().Set("Content-Type", "application/json")
	req.w.WriteHeader(http.StatusOK)
	req.w.Write([]byte(b.Policy))
	return nil
}

func (s *Server) deletePolicy(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:DeleteBucketPolicy"); err != nil {
		return err
	}
	return s.setBucketField(req, "policy", "", http.StatusNoContent)
}

// CORS

type corsConfig struct {
	XMLName xml.Name   `xml:"CORSConfiguration"`
	NS      string     `xml:"xmlns,attr,omitempty"`
	Rules   []corsRule `xml:"CORSRule"`
}

type corsRule struct {
	ID             string   `xml:",omitempty"`
	AllowedOrigins []string `xml:"AllowedOrigin"`
	AllowedMethods []string `xml:"AllowedMethod"`
	AllowedHeaders []string `xml:"AllowedHeader,omitempty"`
	ExposeHeaders  []string `xml:"ExposeHeader,omitempty"`
	MaxAgeSeconds  int      `xml:",omitempty"`
}

func (s *Server) putCORS(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutBucketCORS"); err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var cfg corsConfig
	if xml.Unmarshal(body, &cfg) != nil || len(cfg.Rules) == 0 {
		return errMalformedXML
	}
	for _, r := range cfg.Rules {
		if len(r.AllowedOrigins) == 0 || len(r.AllowedMethods) == 0 {
			return errMalformedXML
		}
		for _, m := range r.AllowedMethods {
			if !slices.Contains([]string{"GET", "PUT", "POST", "DELETE", "HEAD"}, m) {
				return invalidArgument("Found unsupported HTTP method in CORS config. Unsupported method is %s", m)
			}
		}
	}
	raw, _ := json.Marshal(cfg.Rules)
	return s.setBucketField(req, "cors", string(raw), http.StatusOK)
}

func (s *Server) getCORS(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketCORS")
	if err != nil {
		return err
	}
	if b.CORS == "" {
		return errNoSuchCORS
	}
	cfg := corsConfig{NS: s3NS}
	json.Unmarshal([]byte(b.CORS), &cfg.Rules)
	return writeXML(req.w, http.StatusOK, cfg)
}

func (s *Server) deleteCORS(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutBucketCORS"); err != nil {
		return err
	}
	return s.setBucketField(req, "cors", "", http.StatusNoContent)
}

// matchCORS finds the rule allowing origin and method.
func matchCORS(rulesJSON, origin, method string, headers []string) *corsRule {
	var rules []corsRule
	if rulesJSON == "" || json.Unmarshal([]byte(rulesJSON), &rules) != nil {
		return nil
	}
	for i, r := range rules {
		if !slices.ContainsFunc(r.AllowedOrigins, func(o string) bool { return wildcardMatch(o, origin) }) || !slices.Contains(r.AllowedMethods, method) {
			continue
		}
		ok := true
		for _, h := range headers {
			if h = strings.TrimSpace(h); h != "" && !slices.ContainsFunc(r.AllowedHeaders, func(a string) bool { return wildcardMatch(strings.ToLower(a), strings.ToLower(h)) }) {
				ok = false
			}
		}
		if ok {
			return &rules[i]
		}
	}
	return nil
}

// wildcardMatch matches s against a pattern with at most one '*'.
func wildcardMatch(pattern, s string) bool {
	before, after, found := strings.Cut(pattern, "*")
	if !found {
		return pattern == s
	}
	return len(s) >= len(before)+len(after) && strings.HasPrefix(s, before) && strings.HasSuffix(s, after)
}

// preflight answers a CORS OPTIONS request from the bucket's CORS rules.
// corsHeaders adds, to a request from a browser (with Origin) that a CORS
// rule of the bucket allows, the headers that let the page read the
// answer; preflight requests are answered by preflight.
func (s *Server) corsHeaders(req *request) {
	origin := req.r.Header.Get("Origin")
	if origin == "" || req.bucket == "" {
		return
	}
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return
	}
	rule := matchCORS(b.CORS, origin, req.r.Method, nil)
	if rule == nil {
		return
	}
	h := req.w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	h.Add("Vary", "Origin")
}

func (s *Server) preflight(req *request) error {
	origin, method := req.r.Header.Get("Origin"), req.r.Header.Get("Access-Control-Request-Method")
	if origin == "" || method == "" {
		return invalidArgument("Insufficient information. Origin request header needed.")
	}
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return err
	}
	rule := matchCORS(b.CORS, origin, method, strings.Split(req.r.Header.Get("Access-Control-Request-Headers"), ","))
	if rule == nil {
		return s3err(http.StatusForbidden, "AccessForbidden", "CORSResponse: This CORS request is not allowed.")
	}
	h := req.w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Methods", strings.Join(rule.AllowedMethods, ", "))
	if hs := req.r.Header.Get("Access-Control-Request-Headers"); hs != "" {
		h.Set("Access-Control-Allow-Headers", hs)
	}
	if len(rule.ExposeHeaders) > 0 {
		h.Set("Access-Control-Expose-Headers", strings.Join(rule.ExposeHeaders, ", "))
	}
	if rule.MaxAgeSeconds > 0 {
		h.Set("Access-Control-Max-Age", strconv.Itoa(rule.MaxAgeSeconds))
	}
	h.Add("Vary", "Origin")
	req.w.WriteHeader(http.StatusOK)
	return nil
}
