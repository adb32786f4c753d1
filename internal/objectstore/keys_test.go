package objectstore_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestKeyLengthInEveryOperationThatCreatesKeys: 1024 bytes is the longest
// key for PutObject, CopyObject and CreateMultipartUpload alike.
func TestKeyLengthInEveryOperationThatCreatesKeys(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("keys")})
	longest, tooLong := strings.Repeat("k", 1024), strings.Repeat("k", 1025)
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(longest), Body: strings.NewReader("x")})
	wantCode(t, "put 1024", err, "")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("keys"), Key: aws.String(tooLong), Body: strings.NewReader("x")})
	wantCode(t, "put 1025", err, "KeyTooLongError")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("keys"), Key: aws.String(tooLong), CopySource: aws.String("keys/" + longest)})
	wantCode(t, "copy to 1025", err, "KeyTooLongError")
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("keys"), Key: aws.String(tooLong)})
	wantCode(t, "multipart 1025", err, "KeyTooLongError")
	out, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("keys")})
	ups, _ := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("keys")})
	if len(out.Contents) != 1 || len(ups.Uploads) != 0 {
		t.Errorf("after refused keys: %d objects, %d uploads", len(out.Contents), len(ups.Uploads))
	}
}

// TestMetadataNamesLowerCase: user metadata comes back on the wire as
// x-amz-meta-<name> in lower case, as AWS sends it (boto3 takes the names
// from the header names as they are).
func TestMetadataNamesLowerCase(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("meta")})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("meta"), Key: aws.String("k"), Body: strings.NewReader("x"),
		Metadata: map[string]string{"meta1": "one"}})
	wantCode(t, "put", err, "")
	req, _ := http.NewRequest("HEAD", srv.S3URL+"/meta/k", nil)
	req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
	if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: tn.Access, SecretAccessKey: tn.Secret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.S3URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req.Write(conn)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	br, raw := bufio.NewReader(conn), ""
	for {
		line, err := br.ReadString('\n')
		raw += line
		if err != nil || line == "\r\n" {
			break
		}
	}
	if !strings.Contains(raw, "\r\nx-amz-meta-meta1: one\r\n") {
		t.Errorf("response headers:\n%s", raw)
	}
}
