package objectstore_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestCompatibilityFixes: behaviours where sov differed from AWS.
func TestCompatibilityFixes(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	b := aws.String("compat")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	raw := func(method, path string, body []byte, hdr map[string]string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.S3URL+path, bytes.NewReader(body))
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		req.Header.Set("X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD")
		if err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: tn.Access, SecretAccessKey: tn.Secret}, req, "UNSIGNED-PAYLOAD", "s3", "us-east-1", time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out), resp.Header
	}

	// An empty Content-MD5 is not a digest.
	if code, body, _ := raw("PUT", "/compat/md5", []byte("x"), map[string]string{"Content-Md5": ""}); code != 400 || !strings.Contains(body, "InvalidDigest") {
		t.Errorf("empty Content-MD5 = %d %s", code, body)
	}
	// At most 10 tags on an object, 50 on a bucket.
	var eleven []types.Tag
	for i := range 11 {
		eleven = append(eleven, types.Tag{Key: aws.String(fmt.Sprint("k", i)), Value: aws.String("v")})
	}
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("tagged"), Body: strings.NewReader("x")})
	wantCode(t, "put", err, "")
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: b, Key: aws.String("tagged"), Tagging: &types.Tagging{TagSet: eleven}})
	wantCode(t, "11 object tags", err, "BadRequest")
	_, err = c.PutBucketTagging(ctx, &s3.PutBucketTaggingInput{Bucket: b, Tagging: &types.Tagging{TagSet: eleven}})
	wantCode(t, "11 bucket tags", err, "")
	// max-keys=0 lists nothing and leaves nothing out.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b, MaxKeys: aws.Int32(0)})
	if err != nil || len(out.Contents) != 0 || aws.ToBool(out.IsTruncated) {
		t.Errorf("max-keys=0 = %d keys, truncated %v, %v", len(out.Contents), aws.ToBool(out.IsTruncated), err)
	}
	// encoding-type=url leaves '/' as it is.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("dir one/file+1"), Body: strings.NewReader("x")})
	wantCode(t, "put", err, "")
	if code, body, _ := raw("GET", "/compat?list-type=2&encoding-type=url&prefix=dir", nil, nil); code != 200 || !strings.Contains(body, "<Key>dir%20one/file%2B1</Key>") {
		t.Errorf("url-encoded listing = %d %s", code, body)
	}
	// UploadPartCopy refuses a range past the source.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")})
	wantCode(t, "create upload", err, "")
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1),
		CopySource: aws.String("compat/tagged"), CopySourceRange: aws.String("bytes=0-10")})
	wantCode(t, "part copy past the source", err, "InvalidArgument")
	// CORS headers on the request itself, not only on the preflight.
	_, err = c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: b, CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"https://app.example.org"}, AllowedMethods: []string{"GET"}, ExposeHeaders: []string{"ETag"}}}}})
	wantCode(t, "cors", err, "")
	if _, _, h := raw("GET", "/compat/tagged", nil, map[string]string{"Origin": "https://app.example.org"}); h.Get("Access-Control-Allow-Origin") != "https://app.example.org" || h.Get("Access-Control-Expose-Headers") != "ETag" {
		t.Errorf("GET with an allowed Origin: headers %v", h)
	}
	if _, _, h := raw("GET", "/compat/tagged", nil, map[string]string{"Origin": "https://evil.example.com"}); h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("GET from another origin got CORS headers %v", h)
	}

	// A bucket holding only an unfinished multipart upload can be deleted; its parts go.
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("half")})
	hu, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("half"), Key: aws.String("k")})
	wantCode(t, "create upload", err, "")
	_, err = c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("half"), Key: aws.String("k"), UploadId: hu.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("part")})
	wantCode(t, "upload part", err, "")
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("half")})
	wantCode(t, "delete a bucket with only an upload", err, "")
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("half")})
	if err == nil {
		t.Error("the bucket is still there")
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: b})
	wantCode(t, "delete a bucket with objects", err, "BucketNotEmpty")
}

// TestListBucketsPages: max-buckets, continuation-token and prefix.
func TestListBucketsPages(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	for _, name := range []string{"page-a", "page-b", "page-c", "other"} {
		_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		wantCode(t, "create "+name, err, "")
	}
	var names []string
	in := &s3.ListBucketsInput{MaxBuckets: aws.Int32(2), Prefix: aws.String("page-")}
	for pages := 0; ; pages++ {
		out, err := c.ListBuckets(ctx, in)
		wantCode(t, "list buckets", err, "")
		for _, b := range out.Buckets {
			names = append(names, aws.ToString(b.Name))
		}
		if out.ContinuationToken == nil || pages > 3 {
			break
		}
		in.ContinuationToken = out.ContinuationToken
	}
	if strings.Join(names, ",") != "page-a,page-b,page-c" {
		t.Errorf("paged buckets = %v", names)
	}
	_, err := c.ListBuckets(ctx, &s3.ListBucketsInput{MaxBuckets: aws.Int32(0)})
	wantCode(t, "max-buckets=0", err, "InvalidArgument")
}

// TestCompleteAgain: a resent CompleteMultipartUpload (its answer was
// lost) gets the same answer; an aborted upload stays unknown.
func TestCompleteAgain(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	b := aws.String("again")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("k")})
	wantCode(t, "create", err, "")
	p, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("k"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("data")})
	wantCode(t, "part", err, "")
	in := &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("k"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}}
	first, err := c.CompleteMultipartUpload(ctx, in)
	wantCode(t, "complete", err, "")
	again, err := c.CompleteMultipartUpload(ctx, in)
	wantCode(t, "complete again", err, "")
	if aws.ToString(again.ETag) != aws.ToString(first.ETag) {
		t.Errorf("etag again = %s, first %s", aws.ToString(again.ETag), aws.ToString(first.ETag))
	}
	ab, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("gone")})
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("gone"), UploadId: ab.UploadId})
	wantCode(t, "abort", err, "")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("gone"), UploadId: ab.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}})
	wantCode(t, "complete an aborted upload", err, "NoSuchUpload")
}

// TestConditionalDelete: If-Match on DeleteObject (and an ETag in a
// multi-delete entry) deletes only the object with that ETag.
func TestConditionalDelete(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	b := aws.String("cond")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("k"), Body: strings.NewReader("v1")})
	wantCode(t, "put", err, "")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)})
	wantCode(t, "delete with a wrong If-Match", err, "PreconditionFailed")
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("k"), ETag: aws.String(`"nope"`)}}}})
	wantCode(t, "multi-delete", err, "")
	if len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "PreconditionFailed" {
		t.Errorf("multi-delete with a wrong ETag = %+v", out.Errors)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("k")}); err != nil {
		t.Fatalf("the object went: %v", err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("k"), IfMatch: put.ETag})
	wantCode(t, "delete with the right If-Match", err, "")
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("k")}); err == nil {
		t.Error("the object is still there")
	}
}

// TestGetObjectAttributes: the attributes asked for, of a plain and a
// multipart object; another project gets nothing.
func TestGetObjectAttributes(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	stranger := s3Client(srv, srv.NewTenant(t, "beta", ""))
	b := aws.String("attrs")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("plain"), Body: strings.NewReader("hello"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256})
	wantCode(t, "put", err, "")
	out, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("plain"),
		ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag, types.ObjectAttributesObjectSize, types.ObjectAttributesStorageClass, types.ObjectAttributesChecksum}})
	wantCode(t, "attributes", err, "")
	if aws.ToString(out.ETag) != strings.Trim(aws.ToString(put.ETag), `"`) || aws.ToInt64(out.ObjectSize) != 5 || out.StorageClass != types.StorageClassStandard ||
		out.Checksum == nil || aws.ToString(out.Checksum.ChecksumSHA256) != aws.ToString(put.ChecksumSHA256) {
		t.Errorf("attributes = %+v", out)
	}
	up, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("mp")})
	p1, _ := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader(strings.Repeat("a", 5<<20))})
	p2, _ := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId, PartNumber: aws.Int32(2), Body: strings.NewReader("b")})
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("mp"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p1.ETag}, {PartNumber: aws.Int32(2), ETag: p2.ETag}}}})
	wantCode(t, "complete", err, "")
	mp, err := c.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("mp"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}})
	if err != nil || mp.ObjectParts == nil || aws.ToInt32(mp.ObjectParts.TotalPartsCount) != 2 {
		t.Errorf("multipart attributes = %+v, %v", mp, err)
	}
	_, err = stranger.GetObjectAttributes(ctx, &s3.GetObjectAttributesInput{Bucket: b, Key: aws.String("plain"), ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesEtag}})
	wantCode(t, "another project", err, "AccessDenied")
}
