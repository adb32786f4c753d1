package objectstore_test

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPolicyDecidedPerObject: a bucket policy opens a bucket to everyone
// but denies deleting keys under protected/ and reading keys under secret/.
// Multi-object delete, CopyObject and UploadPartCopy cannot get around
// those denials, for another project nor for the owner.
func TestPolicyDecidedPerObject(t *testing.T) {
	t.Parallel()
	srv, owner, _ := startS3(t, nil)
	stranger := s3Client(srv, srv.NewTenant(t, "beta", ""))
	b := aws.String("shared")
	owner.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	stranger.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("loot")})
	for _, k := range []string{"protected/a", "open/b", "open/c", "secret/x"} {
		_, err := owner.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String(k), Body: strings.NewReader("data of " + k)})
		wantCode(t, "put "+k, err, "")
	}
	_, err := owner.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":"*","Action":["s3:GetObject","s3:DeleteObject"],"Resource":["arn:aws:s3:::shared","arn:aws:s3:::shared/*"]},
		{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObject"],"Resource":["arn:aws:s3:::shared/protected/*"]},
		{"Effect":"Deny","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::shared/secret/*"]}]}`)})
	wantCode(t, "put policy", err, "")

	_, err = stranger.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("protected/a")})
	wantCode(t, "delete protected", err, "AccessDenied")
	for _, c := range []*s3.Client{stranger, owner} {
		out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{
			{Key: aws.String("protected/a")}, {Key: aws.String("open/b")}}}})
		wantCode(t, "multi-delete", err, "")
		if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "protected/a" || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
			t.Errorf("multi-delete errors = %+v", out.Errors)
		}
	}
	if _, err := owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("protected/a")}); err != nil {
		t.Errorf("protected/a is gone: %v", err)
	}
	if _, err := owner.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("open/b")}); err == nil {
		t.Error("open/b was not deleted")
	}

	_, err = stranger.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("open/c")})
	wantCode(t, "get open", err, "")
	_, err = stranger.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("loot"), Key: aws.String("x"), CopySource: aws.String("shared/secret/x")})
	wantCode(t, "copy secret", err, "AccessDenied")
	up, err := stranger.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("loot"), Key: aws.String("y")})
	wantCode(t, "create upload", err, "")
	_, err = stranger.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("loot"), Key: aws.String("y"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("shared/secret/x")})
	wantCode(t, "upload part copy of secret", err, "AccessDenied")
	_, err = stranger.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("loot"), Key: aws.String("c"), CopySource: aws.String("shared/open/c")})
	wantCode(t, "copy open", err, "")
	// The owner can still repair its policy.
	_, err = owner.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b})
	wantCode(t, "owner deletes the policy", err, "")
}

// TestVersionActions: deleting or reading a given version is
// s3:DeleteObjectVersion / s3:GetObjectVersion, so a policy that protects
// the history holds on every path.
func TestVersionActions(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	b := aws.String("history")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, "versioning", err, "")
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v1")})
	wantCode(t, "put", err, "")
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Deny","Principal":"*","Action":["s3:DeleteObjectVersion","s3:GetObjectVersion"],"Resource":["arn:aws:s3:::history/*"]}]}`)})
	wantCode(t, "policy", err, "")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), VersionId: put.VersionId})
	wantCode(t, "delete a version", err, "AccessDenied")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k"), VersionId: put.VersionId})
	wantCode(t, "get a version", err, "AccessDenied")
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: b, Key: aws.String("copy"), CopySource: aws.String("history/k?versionId=" + aws.ToString(put.VersionId))})
	wantCode(t, "copy a version", err, "AccessDenied")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("k")})
	wantCode(t, "get the latest", err, "")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k")})
	wantCode(t, "delete (a marker)", err, "")
}
