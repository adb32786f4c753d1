package objectstore_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestUnsignedHeadersRefused: a presigned PUT URL cannot be turned into a
// copy of another object published to everyone by adding unsigned
// x-amz-copy-source and x-amz-acl headers; header-signed requests with an
// unsigned x-amz-* header or an unsigned host are refused the same way.
func TestUnsignedHeadersRefused(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vault")})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("secret"), Body: strings.NewReader("the secret")})
	wantCode(t, "put secret", err, "")
	put, err := s3.NewPresignClient(c).PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("upload")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	do := func(req *http.Request) (int, string) {
		t.Helper()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	req, _ := http.NewRequest("PUT", put.URL, nil)
	req.Header.Set("X-Amz-Copy-Source", "/vault/secret")
	req.Header.Set("X-Amz-Acl", "public-read")
	if code, body := do(req); code != http.StatusForbidden || !strings.Contains(body, "<Code>AccessDenied</Code>") || !strings.Contains(body, "not signed") {
		t.Errorf("presigned PUT with unsigned copy source = %d %s", code, body)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vault"), Key: aws.String("upload")}); err == nil {
		t.Error("the refused request created the object")
	}
	resp, err := http.Get(srv.S3URL + "/vault/secret")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous GET of the secret = %d", resp.StatusCode)
		}
	}
	// The presigned URL as it was meant still works.
	req, _ = http.NewRequest("PUT", put.URL, strings.NewReader("meant"))
	if code, body := do(req); code != http.StatusOK {
		t.Errorf("presigned PUT = %d %s", code, body)
	}

	sign := func(req *http.Request) {
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: tn.Access, SecretAccessKey: tn.Secret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	// A header added after signing.
	req, _ = http.NewRequest("PUT", srv.S3URL+"/vault/other", strings.NewReader("x"))
	sign(req)
	req.Header.Set("X-Amz-Acl", "public-read")
	if code, body := do(req); code != http.StatusForbidden || !strings.Contains(body, "x-amz-acl") {
		t.Errorf("header-signed PUT with unsigned x-amz-acl = %d %s", code, body)
	}
	// A signature that leaves out host.
	req, _ = http.NewRequest("GET", srv.S3URL+"/vault/secret", nil)
	sign(req)
	authz := req.Header.Get("Authorization")
	req.Header.Set("Authorization", strings.Replace(authz, "SignedHeaders=host;", "SignedHeaders=", 1))
	if code, body := do(req); code != http.StatusForbidden || !strings.Contains(body, "not signed: host") {
		t.Errorf("GET without signed host = %d %s", code, body)
	}
}
