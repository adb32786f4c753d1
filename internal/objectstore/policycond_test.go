package objectstore_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestPolicyConditions: statements count only when their conditions hold
// for the request (source address, transport, list prefix, max-keys);
// conditions sov does not evaluate are refused, not ignored.
func TestPolicyConditions(t *testing.T) {
	srv, c, _ := startS3(t, nil)
	b := aws.String("cond-pol")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	for _, k := range []string{"public/a", "private/b"} {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader("x")})
		wantCode(t, "put "+k, err, "")
	}
	_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond-pol/*","Condition":{"IpAddress":{"aws:SourceIp":["127.0.0.2/32"]}}},
		{"Effect":"Allow","Principal":"*","Action":"s3:ListBucket","Resource":"arn:aws:s3:::cond-pol",
			"Condition":{"StringLike":{"s3:prefix":"public/*"},"NumericLessThanEquals":{"s3:max-keys":"10"}}},
		{"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::cond-pol/*","Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}`)})
	wantCode(t, "put policy", err, "")
	from := func(ip string) *http.Client {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) }}}
	}
	anon := func(client *http.Client, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, srv.S3URL+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := anon(from("127.0.0.1"), "GET", "/cond-pol/public/a"); code != 403 {
		t.Errorf("GET from an address outside the condition = %d", code)
	}
	if code := anon(from("127.0.0.2"), "GET", "/cond-pol/private/b"); code != 200 {
		t.Errorf("GET from the allowed address = %d", code)
	}
	for path, want := range map[string]int{"/cond-pol?list-type=2&prefix=public/&max-keys=5": 200, "/cond-pol?list-type=2&prefix=private/&max-keys=5": 403,
		"/cond-pol?list-type=2&prefix=public/&max-keys=50": 403, "/cond-pol?list-type=2": 403} {
		if code := anon(http.DefaultClient, "GET", path); code != want {
			t.Errorf("anonymous GET %s = %d, want %d", path, code, want)
		}
	}
	// Over plain HTTP the Deny holds for the owner as well.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("public/a")})
	wantCode(t, "delete over plain HTTP", err, "AccessDenied")

	for _, bad := range []string{
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond-pol/*","Condition":{"StringEquals":{"aws:PrincipalOrgID":"o-1"}}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond-pol/*","Condition":{"ForAnyValue:StringLike":{"s3:prefix":"a"}}}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::cond-pol/*","Condition":{"IpAddress":{"aws:SourceIp":"not-an-ip"}}}]}`,
	} {
		_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(bad)})
		wantCode(t, "unsupported condition", err, "MalformedPolicy")
	}
}
