package objectstore_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sovcloud/sov/internal/server"
)

// TestWebsite: a bucket's website configuration, served on the website
// endpoint to anonymous browsers: index documents, the directory redirect,
// error documents, routing rules, object redirects, and nothing private.
func TestWebsite(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, func(cfg *server.Config) { cfg.S3.WebsiteDomain = "web.test" })
	b := aws.String("site")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	put := func(key, body string, edit func(*s3.PutObjectInput)) {
		in := &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(body), ContentType: aws.String("text/html")}
		if edit != nil {
			edit(in)
		}
		_, err := c.PutObject(ctx, in)
		wantCode(t, "put "+key, err, "")
	}
	put("index.html", "home", nil)
	put("docs/index.html", "docs home", nil)
	put("404.html", "not here", nil)
	put("secret.html", "private", nil)
	put("old.html", "", func(in *s3.PutObjectInput) { in.WebsiteRedirectLocation = aws.String("/index.html") })
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("bad"), Body: strings.NewReader("x"), WebsiteRedirectLocation: aws.String("elsewhere")})
	wantCode(t, "a redirect location without / or http", err, "InvalidArgument")
	get := func(host, path string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.S3WebsiteURL+path, nil)
		if host != "" {
			req.Host = host
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), resp.Header
	}
	if code, body, _ := get("", "/site/"); code != 404 || !strings.Contains(body, "NoSuchWebsiteConfiguration") || !strings.Contains(body, "<html>") {
		t.Errorf("before a configuration: %d %s", code, body)
	}
	_, err = c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: b})
	wantCode(t, "no configuration", err, "NoSuchWebsiteConfiguration")
	other := s3Client(srv, srv.NewTenant(t, "beta", ""))
	cfg := &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("index.html")},
		ErrorDocument: &types.ErrorDocument{Key: aws.String("404.html")},
		RoutingRules: []types.RoutingRule{
			{Condition: &types.Condition{KeyPrefixEquals: aws.String("blog/")}, Redirect: &types.Redirect{ReplaceKeyPrefixWith: aws.String("docs/"), HttpRedirectCode: aws.String("302")}},
			{Condition: &types.Condition{HttpErrorCodeReturnedEquals: aws.String("404"), KeyPrefixEquals: aws.String("moved/")}, Redirect: &types.Redirect{HostName: aws.String("new.example"), Protocol: types.ProtocolHttps}},
		}}
	_, err = other.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: cfg})
	wantCode(t, "another project configures it", err, "AccessDenied")
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: &types.WebsiteConfiguration{
		IndexDocument: &types.IndexDocument{Suffix: aws.String("a/b.html")}}})
	wantCode(t, "an index suffix with a slash", err, "InvalidArgument")
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: cfg})
	wantCode(t, "put website", err, "")
	got, err := c.GetBucketWebsite(ctx, &s3.GetBucketWebsiteInput{Bucket: b})
	if err != nil || aws.ToString(got.IndexDocument.Suffix) != "index.html" || len(got.RoutingRules) != 2 {
		t.Fatalf("get website: %v %+v", err, got)
	}

	// Nothing is public yet: the site answers 403, with the error document
	// only if that is public.
	if code, _, _ := get("", "/site/"); code != 403 {
		t.Errorf("a private index = %d", code)
	}
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":["arn:aws:s3:::site/index.html","arn:aws:s3:::site/docs/*","arn:aws:s3:::site/404.html","arn:aws:s3:::site/old.html"]}]}`)})
	wantCode(t, "public policy", err, "")
	for _, tc := range []struct{ host, path string }{{"", "/site/"}, {"site.web.test", "/"}, {"site", "/"}} {
		if code, body, h := get(tc.host, tc.path); code != 200 || body != "home" || h.Get("Content-Type") != "text/html" {
			t.Errorf("index at %s%s: %d %q", tc.host, tc.path, code, body)
		}
	}
	// Without a public s3:ListBucket a missing page is 403, as in AWS
	// (nobody learns what is not there); with it, 404.
	if code, body, _ := get("", "/site/nothing.html"); code != 403 || body != "not here" {
		t.Errorf("missing page without ListBucket: %d %q", code, body)
	}
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":["arn:aws:s3:::site/index.html","arn:aws:s3:::site/docs/*","arn:aws:s3:::site/404.html","arn:aws:s3:::site/old.html"]},
		{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::site"}]}`)})
	wantCode(t, "public policy with listing", err, "")
	if code, _, h := get("", "/site/docs"); code != 302 || h.Get("Location") != "/site/docs/" {
		t.Errorf("directory without its slash: %d %s", code, h.Get("Location"))
	}
	if code, body, _ := get("site.web.test", "/docs/"); code != 200 || body != "docs home" {
		t.Errorf("docs/: %d %q", code, body)
	}
	if code, body, _ := get("", "/site/nothing.html"); code != 404 || body != "not here" {
		t.Errorf("missing page: %d %q (want the error document)", code, body)
	}
	if code, body, _ := get("", "/site/secret.html"); code != 403 || body != "not here" {
		t.Errorf("private page: %d %q", code, body)
	}
	if code, _, h := get("", "/site/blog/post.html"); code != 302 || h.Get("Location") != "/site/docs/post.html" {
		t.Errorf("routing by prefix: %d %s", code, h.Get("Location"))
	}
	if code, _, h := get("", "/site/moved/page"); code != 301 || h.Get("Location") != "https://new.example/moved/page" {
		t.Errorf("routing on 404: %d %s", code, h.Get("Location"))
	}
	if code, _, h := get("", "/site/old.html"); code != 301 || h.Get("Location") != "/index.html" {
		t.Errorf("object redirect: %d %s", code, h.Get("Location"))
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("old.html")})
	if err != nil || aws.ToString(head.WebsiteRedirectLocation) != "/index.html" {
		t.Errorf("x-amz-website-redirect-location on HEAD: %v", err)
	}
	req, _ := http.NewRequest("PUT", srv.S3WebsiteURL+"/site/index.html", strings.NewReader("defaced"))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("PUT on the website endpoint: %v %v", resp, err)
	}
	if body, _ := getBody(t, c, &s3.GetObjectInput{Bucket: b, Key: aws.String("index.html")}); body != "home" {
		t.Errorf("the index after a PUT on the website: %q", body)
	}

	// Redirect of all requests; delete.
	_, err = c.PutBucketWebsite(ctx, &s3.PutBucketWebsiteInput{Bucket: b, WebsiteConfiguration: &types.WebsiteConfiguration{
		RedirectAllRequestsTo: &types.RedirectAllRequestsTo{HostName: aws.String("www.example.org"), Protocol: types.ProtocolHttps}}})
	wantCode(t, "redirect all", err, "")
	if code, _, h := get("", "/site/a/b?x=1"); code != 301 || h.Get("Location") != "https://www.example.org/a/b?x=1" {
		t.Errorf("redirect all: %d %s", code, h.Get("Location"))
	}
	_, err = c.DeleteBucketWebsite(ctx, &s3.DeleteBucketWebsiteInput{Bucket: b})
	wantCode(t, "delete website", err, "")
	if code, _, _ := get("", "/site/"); code != 404 {
		t.Errorf("after delete: %d", code)
	}
}
