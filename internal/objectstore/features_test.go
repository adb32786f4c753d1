package objectstore_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sovcloud/sov/internal/server"
)

func TestMultipartUpload(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("multi")})
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"),
		ContentType: aws.String("application/x-big"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	wantCode(t, "create upload", err, "")
	part1 := make([]byte, 5<<20)
	rand.Read(part1)
	part2 := []byte("tail of the object")
	var done []types.CompletedPart
	for i, data := range [][]byte{part1, part2} {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(data), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
		wantCode(t, "upload part", err, "")
		done = append(done, types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32: out.ChecksumCRC32})
	}
	lp, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId})
	if err != nil || len(lp.Parts) != 2 || aws.ToInt64(lp.Parts[0].Size) != 5<<20 {
		t.Fatalf("ListParts = %+v, %v", lp, err)
	}
	lu, err := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
	if err != nil || len(lu.Uploads) != 1 || aws.ToString(lu.Uploads[0].UploadId) != aws.ToString(up.UploadId) {
		t.Fatalf("ListMultipartUploads = %+v, %v", lu, err)
	}
	// Out of order, and unknown parts, are refused.
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{done[1], done[0]}}})
	wantCode(t, "out of order", err, "InvalidPartOrder")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: aws.String(`"00"`), PartNumber: aws.Int32(1)}}}})
	wantCode(t, "wrong etag", err, "InvalidPart")
	out, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done}})
	wantCode(t, "complete", err, "")
	if !strings.HasSuffix(aws.ToString(out.ETag), `-2"`) {
		t.Errorf("multipart ETag = %s, want …-2", aws.ToString(out.ETag))
	}
	body, got := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("multi"), Key: aws.String("big")})
	if body != string(part1)+string(part2) || aws.ToString(got.ContentType) != "application/x-big" {
		t.Errorf("completed object: %d bytes, type %s", len(body), aws.ToString(got.ContentType))
	}
	lu, _ = c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("multi")})
	if len(lu.Uploads) != 0 {
		t.Errorf("uploads after complete = %+v", lu.Uploads)
	}
	// UploadPartCopy from the completed object, then abort.
	up2, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("copy")})
	pc, err := c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: aws.String("multi"), Key: aws.String("copy"), UploadId: up2.UploadId,
		PartNumber: aws.Int32(1), CopySource: aws.String("multi/big"), CopySourceRange: aws.String("bytes=0-99")})
	if err != nil || pc.CopyPartResult == nil || aws.ToString(pc.CopyPartResult.ETag) == "" {
		t.Fatalf("UploadPartCopy = %+v, %v", pc, err)
	}
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String("multi"), Key: aws.String("copy"), UploadId: up2.UploadId})
	wantCode(t, "abort", err, "")
	_, err = c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("multi"), Key: aws.String("copy"), UploadId: up2.UploadId})
	wantCode(t, "parts of aborted upload", err, "NoSuchUpload")
}

func TestVersioning(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ver")})
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("ver"),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	wantCode(t, "enable versioning", err, "")
	v, _ := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: aws.String("ver")})
	if v.Status != types.BucketVersioningStatusEnabled {
		t.Fatalf("versioning = %s", v.Status)
	}
	first, _ := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), Body: strings.NewReader("v1")})
	second, _ := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), Body: strings.NewReader("v2")})
	if aws.ToString(first.VersionId) == "" || aws.ToString(first.VersionId) == aws.ToString(second.VersionId) {
		t.Fatalf("version ids %s %s", aws.ToString(first.VersionId), aws.ToString(second.VersionId))
	}
	if body, _ := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc")}); body != "v2" {
		t.Errorf("latest = %q", body)
	}
	if body, _ := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), VersionId: first.VersionId}); body != "v1" {
		t.Errorf("first version = %q", body)
	}
	del, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc")})
	if err != nil || !aws.ToBool(del.DeleteMarker) {
		t.Fatalf("delete = %+v, %v", del, err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc")})
	wantCode(t, "get after delete", err, "NoSuchKey")
	lv, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String("ver")})
	if err != nil || len(lv.Versions) != 2 || len(lv.DeleteMarkers) != 1 || !aws.ToBool(lv.DeleteMarkers[0].IsLatest) {
		t.Fatalf("versions = %+v, %v", lv, err)
	}
	// Removing the delete marker brings v2 back.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), VersionId: del.VersionId})
	wantCode(t, "delete marker removal", err, "")
	if body, _ := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc")}); body != "v2" {
		t.Errorf("after removing the marker = %q", body)
	}
	// Deleting a version for good.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), VersionId: first.VersionId})
	wantCode(t, "delete version", err, "")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("ver"), Key: aws.String("doc"), VersionId: first.VersionId})
	wantCode(t, "get deleted version", err, "NoSuchVersion")
	// Listing skips versions and markers.
	if keys := listKeys(t, c, "ver", ""); len(keys) != 1 {
		t.Errorf("keys = %v", keys)
	}
}

func TestPublicAccess(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("web")})
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("web"), Key: aws.String("index.html"), Body: strings.NewReader("<h1>hi</h1>")})
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("web"), Key: aws.String("open.txt"), Body: strings.NewReader("open"), ACL: types.ObjectCannedACLPublicRead})
	anon := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.S3URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := anon("GET", "/web/index.html"); got != 403 {
		t.Errorf("anonymous GET of a private object = %d", got)
	}
	if got := anon("GET", "/web/open.txt"); got != 200 {
		t.Errorf("anonymous GET of a public-read object = %d", got)
	}
	// A policy opens the objects (not the listing) to everyone.
	_, err := c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("web"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":["s3:GetObject"],"Resource":["arn:aws:s3:::web/*"]}]}`)})
	wantCode(t, "put policy", err, "")
	if got := anon("GET", "/web/index.html"); got != 200 {
		t.Errorf("anonymous GET with a policy = %d", got)
	}
	if got := anon("GET", "/web"); got != 403 {
		t.Errorf("anonymous list with a GetObject policy = %d", got)
	}
	if got := anon("PUT", "/web/x"); got != 403 {
		t.Errorf("anonymous PUT with a GetObject policy = %d", got)
	}
	// A public-read bucket ACL opens the listing.
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: aws.String("web"), ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "bucket acl", err, "")
	if got := anon("GET", "/web"); got != 200 {
		t.Errorf("anonymous list of a public-read bucket = %d", got)
	}
	// ... but not the objects whose own ACL is private (with the policy gone).
	_, err = c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("web")})
	wantCode(t, "delete policy", err, "")
	if got := anon("GET", "/web/index.html"); got != 403 {
		t.Errorf("anonymous GET of a private object in a public-read bucket = %d", got)
	}
	if got := anon("GET", "/web/open.txt"); got != 200 {
		t.Errorf("anonymous GET of a public-read object in a public-read bucket = %d", got)
	}
	acl, err := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: aws.String("web")})
	if err != nil || len(acl.Grants) != 2 {
		t.Errorf("bucket ACL = %+v, %v", acl, err)
	}
	_, err = c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: aws.String("web")})
	wantCode(t, "delete policy", err, "")

	// CORS preflight.
	_, err = c.PutBucketCors(ctx, &s3.PutBucketCorsInput{Bucket: aws.String("web"), CORSConfiguration: &types.CORSConfiguration{CORSRules: []types.CORSRule{{
		AllowedOrigins: []string{"https://*.example.org"}, AllowedMethods: []string{"GET", "PUT"}, AllowedHeaders: []string{"*"}, MaxAgeSeconds: aws.Int32(60)}}}})
	wantCode(t, "put cors", err, "")
	req, _ := http.NewRequest("OPTIONS", srv.S3URL+"/web/index.html", nil)
	req.Header.Set("Origin", "https://app.example.org")
	req.Header.Set("Access-Control-Request-Method", "PUT")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.org" {
		t.Errorf("preflight = %d %v", resp.StatusCode, resp.Header)
	}
	req.Header.Set("Origin", "https://evil.example.com")
	resp, _ = http.DefaultClient.Do(req)
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Errorf("preflight from another origin = %d", resp.StatusCode)
	}
}

func TestQuota(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, func(cfg *server.Config) { cfg.S3.QuotaBytes = 1000; cfg.S3.QuotaObjects = 3 })
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("quota")})
	put := func(key string, n int) error {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("quota"), Key: aws.String(key), Body: bytes.NewReader(make([]byte, n))})
		return err
	}
	wantCode(t, "600 bytes", put("a", 600), "")
	wantCode(t, "600 more bytes", put("b", 600), "QuotaExceeded")
	wantCode(t, "overwrite within quota", put("a", 900), "")
	wantCode(t, "small 1", put("c", 10), "")
	wantCode(t, "over bytes again", put("d", 100), "QuotaExceeded")
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("quota"), Key: aws.String("a")})
	wantCode(t, "after delete", put("d", 100), "")
	wantCode(t, "small 2", put("e", 1), "")
	wantCode(t, "fourth object", put("f", 1), "QuotaExceeded")
	if keys := listKeys(t, c, "quota", ""); strings.Join(keys, ",") != "c,d,e" {
		t.Errorf("keys = %v", keys)
	}
}

// TestQuotaCountsMultipart: the parts of incomplete uploads, uploaded or
// copied, count against the quota; aborting releases them; completing
// turns them into the object's bytes without counting twice.
func TestQuotaCountsMultipart(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, func(cfg *server.Config) { cfg.S3.QuotaBytes = 1000 })
	b := aws.String("quota")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	start := func(key string) *string {
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String(key)})
		wantCode(t, "create upload "+key, err, "")
		return up.UploadId
	}
	part := func(key string, id *string, num int32, n int) (*s3.UploadPartOutput, error) {
		return c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String(key), UploadId: id, PartNumber: aws.Int32(num), Body: bytes.NewReader(make([]byte, n))})
	}
	one := start("one")
	_, err := part("one", one, 1, 600)
	wantCode(t, "600 bytes in a part", err, "")
	two := start("two")
	_, err = part("two", two, 1, 600)
	wantCode(t, "600 more in another upload", err, "QuotaExceeded")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("plain"), Body: bytes.NewReader(make([]byte, 500))})
	wantCode(t, "500 bytes beside the part", err, "QuotaExceeded")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("small"), Body: bytes.NewReader(make([]byte, 300))})
	wantCode(t, "300 bytes beside the part", err, "")
	_, err = c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{Bucket: b, Key: aws.String("two"), UploadId: two, PartNumber: aws.Int32(1), CopySource: aws.String("quota/small")})
	wantCode(t, "copying 300 more into a part", err, "QuotaExceeded")
	// Replacing a part counts only the difference.
	p, err := part("one", one, 1, 650)
	wantCode(t, "part replaced by 650 bytes", err, "")
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("two"), UploadId: two})
	wantCode(t, "abort", err, "")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("one"), UploadId: one,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: p.ETag}}}})
	wantCode(t, "complete within the quota", err, "")
	// 650 + 300 stored: 50 bytes left.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("more"), Body: bytes.NewReader(make([]byte, 60))})
	wantCode(t, "60 bytes", err, "QuotaExceeded")
	three := start("three")
	_, err = part("three", three, 1, 50)
	wantCode(t, "the last 50 bytes in a part", err, "")
	_, err = c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: b, Key: aws.String("three"), UploadId: three})
	wantCode(t, "abort three", err, "")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("more"), Body: bytes.NewReader(make([]byte, 50))})
	wantCode(t, "50 bytes after the abort", err, "")
}
