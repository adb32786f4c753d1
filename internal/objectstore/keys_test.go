package objectstore_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// TestKeyLengthInEveryOperationThatCreatesKeys: 1024 bytes is the longest
// key for PutObject, CopyObject and CreateMultipartUpload alike.
func TestKeyLengthInEveryOperationThatCreatesKeys(t *testing.T) {
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
