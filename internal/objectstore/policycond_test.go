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
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPolicyConditions: statements count only when their conditions hold
// for the request (source address, transport, list prefix, max-keys);
// conditions sov does not evaluate are refused, not ignored.
func TestPolicyConditions(t *testing.T) {
	t.Parallel()
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

// TestPolicyTagConditions: s3:ExistingObjectTag opens only objects with the
// tag; s3:RequestObjectTag lets another project write only tagged objects.
func TestPolicyTagConditions(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	betaT := srv.NewTenant(t, "beta", "")
	beta := s3Client(srv, betaT)
	b := aws.String("tag-pol")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	for key, tags := range map[string]string{"open": "class=open", "secret": "class=secret", "untagged": ""} {
		in := &s3.PutObjectInput{Bucket: b, Key: aws.String(key), Body: strings.NewReader(key)}
		if tags != "" {
			in.Tagging = aws.String(tags)
		}
		_, err := c.PutObject(ctx, in)
		wantCode(t, "put "+key, err, "")
	}
	_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::tag-pol/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/class":"open"}}},
		{"Effect":"Allow","Principal":{"AWS":["` + betaT.ProjectID + `"]},"Action":["s3:PutObject","s3:PutObjectTagging"],"Resource":"arn:aws:s3:::tag-pol/*",
			"Condition":{"StringEquals":{"s3:RequestObjectTag/team":"beta"}}}]}`)})
	wantCode(t, "put policy", err, "")
	for key, want := range map[string]string{"open": "", "secret": "AccessDenied", "untagged": "AccessDenied", "missing": "AccessDenied"} {
		_, err := beta.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String(key)})
		wantCode(t, "beta reads "+key, err, want)
	}
	_, err = beta.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("b1"), Body: strings.NewReader("x"), Tagging: aws.String("team=beta")})
	wantCode(t, "beta writes a tagged object", err, "")
	_, err = beta.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("b2"), Body: strings.NewReader("x")})
	wantCode(t, "beta writes an untagged object", err, "AccessDenied")
	gamma := s3Client(srv, srv.NewTenant(t, "gamma", ""))
	_, err = gamma.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("g1"), Body: strings.NewReader("x"), Tagging: aws.String("team=beta")})
	wantCode(t, "a project the principal does not name", err, "AccessDenied")
	_, err = beta.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("b3"), Body: strings.NewReader("x"), Tagging: aws.String("team=gamma")})
	wantCode(t, "beta writes another team's tag", err, "AccessDenied")
	tagging := func(v string) *s3.PutObjectTaggingInput {
		return &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("b1"), Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("team"), Value: aws.String(v)}}}}
	}
	_, err = beta.PutObjectTagging(ctx, tagging("gamma"))
	wantCode(t, "beta retags to another team", err, "AccessDenied")
	_, err = beta.PutObjectTagging(ctx, tagging("beta"))
	wantCode(t, "beta retags to its team", err, "")
	// Reading a tag-opened object of a version-specific kind, or with a
	// trailing tag key, is refused when the policy does not name it.
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject",
		"Resource":"arn:aws:s3:::tag-pol/*","Condition":{"StringEquals":{"s3:ExistingObjectTag/":"x"}}}]}`)})
	wantCode(t, "a tag key without a tag", err, "MalformedPolicy")
	for _, bad := range []string{
		`{"Statement":[{"Effect":"Allow","NotPrincipal":{"AWS":"` + betaT.ProjectID + `"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::tag-pol/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"Service":"logging.s3.amazonaws.com"},"Action":"s3:PutObject","Resource":"arn:aws:s3:::tag-pol/*"}]}`,
		`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::` + betaT.ProjectID + `:role/x"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::tag-pol/*"}]}`,
	} {
		_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(bad)})
		wantCode(t, "unsupported principal", err, "MalformedPolicy")
	}
	// One user of a project, by ARN: its project's other users are not named.
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Statement":[{"Effect":"Allow",
		"Principal":{"AWS":"arn:aws:iam::` + betaT.ProjectID + `:user/` + betaT.UserID + `"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::tag-pol/*"}]}`)})
	wantCode(t, "user principal", err, "")
	_, err = beta.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("secret")})
	wantCode(t, "the named user reads", err, "")
	other := s3Client(srv, srv.NewTenantUser(t, "beta", "member"))
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("secret")})
	wantCode(t, "another user of the project reads", err, "AccessDenied")
}
