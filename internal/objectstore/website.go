package objectstore

import (
	"encoding/xml"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Static website hosting, as S3 has it: a bucket's website configuration
// (index and error documents, redirects, routing rules) is served on the
// website endpoint, a listener of its own that answers anonymous GET and
// HEAD with HTML error pages. It serves what is public: what a bucket
// policy or an ACL lets everyone read.

type websiteConfig struct {
	XMLName               xml.Name       `xml:"WebsiteConfiguration"`
	NS                    string         `xml:"xmlns,attr,omitempty"`
	RedirectAllRequestsTo *redirectAll   `xml:",omitempty"`
	IndexDocument         *indexDocument `xml:",omitempty"`
	ErrorDocument         *errorDocument `xml:",omitempty"`
	RoutingRules          []routingRule  `xml:"RoutingRules>RoutingRule,omitempty"`
}

type redirectAll struct {
	HostName string
	Protocol string `xml:",omitempty"`
}

type indexDocument struct{ Suffix string }

type errorDocument struct{ Key string }

type routingRule struct {
	Condition *routingCondition `xml:",omitempty"`
	Redirect  routingRedirect
}

type routingCondition struct {
	KeyPrefixEquals             string `xml:",omitempty"`
	HttpErrorCodeReturnedEquals string `xml:",omitempty"`
}

type routingRedirect struct {
	HostName             string `xml:",omitempty"`
	HttpRedirectCode     string `xml:",omitempty"`
	Protocol             string `xml:",omitempty"`
	ReplaceKeyPrefixWith string `xml:",omitempty"`
	ReplaceKeyWith       string `xml:",omitempty"`
}

// check validates a configuration as AWS does.
func (c *websiteConfig) check() error {
	if c.RedirectAllRequestsTo != nil {
		if c.IndexDocument != nil || c.ErrorDocument != nil || len(c.RoutingRules) > 0 {
			return invalidArgument("RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules.")
		}
		if c.RedirectAllRequestsTo.HostName == "" {
			return invalidArgument("RedirectAllRequestsTo needs a HostName.")
		}
		return checkProtocol(c.RedirectAllRequestsTo.Protocol)
	}
	if c.IndexDocument == nil || c.IndexDocument.Suffix == "" || strings.Contains(c.IndexDocument.Suffix, "/") {
		return invalidArgument("A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty, and it must not contain a slash.")
	}
	if c.ErrorDocument != nil && c.ErrorDocument.Key == "" {
		return invalidArgument("The ErrorDocument Key must not be empty.")
	}
	if len(c.RoutingRules) > 50 {
		return invalidArgument("A website configuration holds at most 50 routing rules.")
	}
	for _, r := range c.RoutingRules {
		rd := r.Redirect
		if rd.ReplaceKeyPrefixWith != "" && rd.ReplaceKeyWith != "" {
			return invalidArgument("You can only define ReplaceKeyPrefix or ReplaceKey but not both.")
		}
		if code := rd.HttpRedirectCode; code != "" {
			if n, err := strconv.Atoi(code); err != nil || n < 300 || n > 399 || n == 300 || n == 304 {
				return invalidArgument("The provided HTTP redirect code (%s) is not valid. Valid codes are 3XX except 300 and 304.", code)
			}
		}
		if r.Condition != nil && r.Condition.HttpErrorCodeReturnedEquals != "" {
			if n, err := strconv.Atoi(r.Condition.HttpErrorCodeReturnedEquals); err != nil || n < 400 || n > 599 {
				return invalidArgument("The provided HTTP error code (%s) is not valid. Valid codes are 4XX or 5XX.", r.Condition.HttpErrorCodeReturnedEquals)
			}
		}
		if err := checkProtocol(rd.Protocol); err != nil {
			return err
		}
	}
	return nil
}

func checkProtocol(p string) error {
	if p != "" && p != "http" && p != "https" {
		return invalidArgument("Invalid protocol, protocol can be http or https. If not defined the protocol will be selected automatically.")
	}
	return nil
}

func (b *bucket) website() *websiteConfig {
	if b.Website == "" {
		return nil
	}
	var c websiteConfig
	if xml.Unmarshal([]byte(b.Website), &c) != nil {
		return nil
	}
	return &c
}

func (s *Server) putBucketWebsite(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutBucketWebsite"); err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var c websiteConfig
	if xml.Unmarshal(body, &c) != nil {
		return errMalformedXML
	}
	if err := c.check(); err != nil {
		return err
	}
	c.NS = ""
	stored, _ := xml.Marshal(c)
	return s.setBucketField(req, "website", string(stored), http.StatusOK)
}

func (s *Server) getBucketWebsite(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketWebsite")
	if err != nil {
		return err
	}
	c := b.website()
	if c == nil {
		return errNoSuchWebsite
	}
	c.NS = s3NS
	return writeXML(req.w, http.StatusOK, c)
}

func (s *Server) deleteBucketWebsite(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:DeleteBucketWebsite"); err != nil {
		return err
	}
	return s.setBucketField(req, "website", "", http.StatusNoContent)
}

var errNoSuchWebsite = s3err(http.StatusNotFound, "NoSuchWebsiteConfiguration", "The specified bucket does not have a website configuration")

// checkRedirectLocation holds S3's rule for x-amz-website-redirect-location.
func checkRedirectLocation(v string) error {
	if v != "" && !strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return invalidArgument("The website redirect location must have a prefix of 'http://' or 'https://' or '/'.")
	}
	return nil
}

// Website returns the handler of the website endpoint. A request names its
// bucket by host (<bucket>.<WebsiteDomain>, or a host that is a bucket's
// name, as with a CNAME) or else by the first path segment.
func (s *Server) Website() http.Handler { return http.HandlerFunc(s.serveWebsite) }

func (s *Server) serveWebsite(w http.ResponseWriter, r *http.Request) {
	id := startResponse(w)
	bucketName, key, prefix := s.websiteTarget(r)
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		websiteError(w, r, id, errMethodNotAllowed, key)
		return
	}
	b, err := s.getBucket(r.Context(), bucketName)
	if err != nil {
		websiteError(w, r, id, err, key)
		return
	}
	c := b.website()
	if c == nil {
		websiteError(w, r, id, errNoSuchWebsite, key)
		return
	}
	if ra := c.RedirectAllRequestsTo; ra != nil {
		u := url.URL{Scheme: ra.Protocol, Host: ra.HostName, Path: "/" + key, RawQuery: r.URL.RawQuery}
		if u.Scheme == "" {
			u.Scheme = requestScheme(r)
		}
		http.Redirect(w, r, u.String(), http.StatusMovedPermanently)
		return
	}
	if to, code, ok := c.route(key, 0, r, prefix); ok {
		http.Redirect(w, r, to, code)
		return
	}
	target := key
	if target == "" || strings.HasSuffix(target, "/") {
		target += c.IndexDocument.Suffix
	}
	err = s.serveWebsiteObject(w, r, id, b, target, http.StatusOK)
	if err == nil {
		return
	}
	// A "directory" without its slash goes to it when it has an index.
	if errors.Is(err, errNoSuchKey) && target == key && key != "" {
		if _, ierr := s.websiteObject(r, b, key+"/"+c.IndexDocument.Suffix); ierr == nil {
			http.Redirect(w, r, prefix+"/"+key+"/", http.StatusFound)
			return
		}
	}
	status := http.StatusInternalServerError
	var e *Error
	if errors.As(err, &e) {
		status = e.Status
	}
	if to, code, ok := c.route(key, status, r, prefix); ok {
		http.Redirect(w, r, to, code)
		return
	}
	if c.ErrorDocument != nil && (status == http.StatusNotFound || status == http.StatusForbidden) {
		if s.serveWebsiteObject(w, r, id, b, c.ErrorDocument.Key, status) == nil {
			return
		}
	}
	websiteError(w, r, id, err, key)
}

// websiteTarget finds the bucket and key of a website request, and the
// path prefix its links are under ("/<bucket>" in path style).
func (s *Server) websiteTarget(r *http.Request) (bucket, key, prefix string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	if d := s.cfg.WebsiteDomain; d != "" {
		if b, ok := strings.CutSuffix(host, "."+d); ok && b != "" {
			return b, path, ""
		}
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		if _, err := s.getBucket(r.Context(), host); err == nil {
			return host, path, ""
		}
	}
	bucket, key, _ = strings.Cut(path, "/")
	return bucket, key, "/" + bucket
}

// route applies the first routing rule whose condition holds for key and
// status (0 before the object is looked up): it returns where to.
func (c *websiteConfig) route(key string, status int, r *http.Request, prefix string) (string, int, bool) {
	for _, rule := range c.RoutingRules {
		cond := rule.Condition
		keyPrefix, onError := "", ""
		if cond != nil {
			keyPrefix, onError = cond.KeyPrefixEquals, cond.HttpErrorCodeReturnedEquals
		}
		if !strings.HasPrefix(key, keyPrefix) {
			continue
		}
		// A rule on an error code applies once the lookup gave that error;
		// the others apply before the lookup.
		if (onError == "" && status != 0) || (onError != "" && onError != strconv.Itoa(status)) {
			continue
		}
		rd := rule.Redirect
		newKey := key
		switch {
		case rd.ReplaceKeyWith != "":
			newKey = rd.ReplaceKeyWith
		case rd.ReplaceKeyPrefixWith != "":
			newKey = rd.ReplaceKeyPrefixWith + key[len(keyPrefix):]
		}
		code := http.StatusMovedPermanently
		if rd.HttpRedirectCode != "" {
			code, _ = strconv.Atoi(rd.HttpRedirectCode)
		}
		if rd.HostName == "" && rd.Protocol == "" {
			return prefix + "/" + newKey, code, true
		}
		u := url.URL{Scheme: rd.Protocol, Host: rd.HostName, Path: "/" + newKey}
		if u.Scheme == "" {
			u.Scheme = requestScheme(r)
		}
		if u.Host == "" {
			u.Host = r.Host
		}
		return u.String(), code, true
	}
	return "", 0, false
}

func requestScheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// websiteObject is a request of the website endpoint for a key of b, as
// the REST API sees it: anonymous, without query parameters.
func (s *Server) websiteObject(r *http.Request, b *bucket, key string) (*object, error) {
	req := s.websiteRequest(nil, r, "", b, key)
	o, err := s.readableObject(req, b, key, "", "s3:GetObject")
	if err == nil && o.DeleteMarker {
		return nil, errNoSuchKey
	}
	return o, err
}

func (s *Server) websiteRequest(w http.ResponseWriter, r *http.Request, id string, b *bucket, key string) *request {
	rr := r.Clone(r.Context())
	rr.URL.RawQuery = ""
	return &request{w: w, r: rr, q: url.Values{}, sig: &signed{payload: unsignedPayload}, id: id, bucket: b.Name, key: key}
}

// serveWebsiteObject serves key of b with the given status (200, or the
// error a document stands for); a redirect set on the object is followed.
func (s *Server) serveWebsiteObject(w http.ResponseWriter, r *http.Request, id string, b *bucket, key string, status int) error {
	o, err := s.websiteObject(r, b, key)
	if err != nil {
		return err
	}
	if to := o.Headers["X-Amz-Website-Redirect-Location"]; to != "" && status == http.StatusOK {
		http.Redirect(w, r, to, http.StatusMovedPermanently)
		return nil
	}
	if status == http.StatusOK {
		return s.getObject(s.websiteRequest(w, r, id, b, key))
	}
	// An error document keeps the error's status and is served whole.
	rr := r.Clone(r.Context())
	rr.Header.Del("Range")
	for _, h := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		rr.Header.Del(h)
	}
	return s.getObject(s.websiteRequest(&statusWriter{ResponseWriter: w, status: status}, rr, id, b, key))
}

// statusWriter answers with status where the handler says 200.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if code == http.StatusOK {
		code = w.status
	}
	w.ResponseWriter.WriteHeader(code)
}

// websiteError answers an error as an HTML page, as website endpoints do.
func websiteError(w http.ResponseWriter, r *http.Request, id string, err error, key string) {
	var e *Error
	if !errors.As(err, &e) {
		e = s3err(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	title := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	fmt.Fprintf(w, "<html>\n<head><title>%s</title></head>\n<body>\n<h1>%s</h1>\n<ul>\n<li>Code: %s</li>\n<li>Message: %s</li>\n",
		title, title, html.EscapeString(e.Code), html.EscapeString(e.Message))
	if key != "" {
		fmt.Fprintf(w, "<li>Key: %s</li>\n", html.EscapeString(key))
	}
	fmt.Fprintf(w, "<li>RequestId: %s</li>\n</ul>\n<hr/>\n</body>\n</html>\n", id)
}
