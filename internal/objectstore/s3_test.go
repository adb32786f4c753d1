package objectstore_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

// s3Client returns an aws-sdk-go-v2 client for the tenant, path style,
// with the checksum behaviour config.LoadDefaultConfig gives by default.
func s3Client(srv *servertest.Server, tn servertest.Tenant) *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(srv.S3URL),
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider(tn.Access, tn.Secret, ""),
		UsePathStyle:               true,
		HTTPClient:                 srv.HTTPClient,
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported,
	})
}

func startS3(t *testing.T, edit func(*server.Config)) (*servertest.Server, *s3.Client, servertest.Tenant) {
	t.Helper()
	srv := servertest.Start(t, edit)
	tn := srv.NewTenant(t, "alpha", "")
	return srv, s3Client(srv, tn), tn
}

// wantCode fails unless err is an S3 API error with the given code.
func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
		return
	}
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: got %v, want S3 error %s", what, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("%s: got %s (%s), want %s", what, ae.ErrorCode(), ae.ErrorMessage(), code)
	}
}

func getBody(t *testing.T, c *s3.Client, in *s3.GetObjectInput) (string, *s3.GetObjectOutput) {
	t.Helper()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		t.Fatalf("GetObject %s: %v", aws.ToString(in.Key), err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), out
}

func TestBucketsAndObjects(t *testing.T) {
	t.Parallel()
	_, c, tn := startS3(t, nil)
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	wantCode(t, "create bucket", err, "")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("photos")})
	wantCode(t, "create again", err, "BucketAlreadyOwnedByYou")
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("Bad_Name")})
	wantCode(t, "bad name", err, "InvalidBucketName")
	lb, err := c.ListBuckets(ctx, &s3.ListBucketsInput{})
	if err != nil || len(lb.Buckets) != 1 || aws.ToString(lb.Buckets[0].Name) != "photos" || aws.ToString(lb.Owner.ID) != tn.ProjectID {
		t.Fatalf("ListBuckets = %+v, %v", lb, err)
	}
	_, err = c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("photos")})
	wantCode(t, "head bucket", err, "")
	_, err = c.GetBucketLocation(ctx, &s3.GetBucketLocationInput{Bucket: aws.String("photos")})
	wantCode(t, "location", err, "")

	// Put with metadata; the SDK streams it aws-chunked with a CRC32 trailer.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"),
		Body: strings.NewReader("meow meow"), ContentType: aws.String("text/plain"),
		Metadata: map[string]string{"color": "grey"}, Tagging: aws.String("kind=pet")})
	wantCode(t, "put", err, "")
	body, out := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt")})
	if body != "meow meow" || aws.ToString(out.ContentType) != "text/plain" || out.Metadata["color"] != "grey" || aws.ToInt32(out.TagCount) != 1 {
		t.Errorf("get = %q %+v", body, out)
	}
	sum := md5.Sum([]byte("meow meow"))
	if etag := aws.ToString(out.ETag); etag != `"`+hexString(sum[:])+`"` {
		t.Errorf("ETag = %s, want MD5 of the content", etag)
	}
	// Range and conditional reads.
	body, out = getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"), Range: aws.String("bytes=5-")})
	if body != "meow" || aws.ToString(out.ContentRange) != "bytes 5-8/9" {
		t.Errorf("range get = %q %s", body, aws.ToString(out.ContentRange))
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"), Range: aws.String("bytes=100-")})
	wantCode(t, "bad range", err, "InvalidRange")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"), IfMatch: aws.String(`"nope"`)})
	wantCode(t, "if-match", err, "PreconditionFailed")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"), IfNoneMatch: out.ETag})
	var re interface{ HTTPStatusCode() int }
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusNotModified {
		t.Errorf("if-none-match = %v, want 304", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"), Body: strings.NewReader("x"), IfNoneMatch: aws.String("*")})
	wantCode(t, "conditional create of an existing key", err, "PreconditionFailed")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("nope")})
	wantCode(t, "missing key", err, "NoSuchKey")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("nobucket"), Key: aws.String("x")})
	wantCode(t, "missing bucket", err, "NoSuchBucket")

	// Wrong Content-MD5 is refused and stores nothing.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("bad"), Body: strings.NewReader("data"),
		ContentMD5: aws.String(base64.StdEncoding.EncodeToString(make([]byte, 16)))})
	wantCode(t, "wrong md5", err, "BadDigest")
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String("bad")})
	if err == nil {
		t.Error("object with a bad digest was stored")
	}
	// Every checksum algorithm is verified and returned.
	for _, alg := range []types.ChecksumAlgorithm{types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmSha1,
		types.ChecksumAlgorithmSha256, types.ChecksumAlgorithmCrc64nvme} {
		key := "sum-" + string(alg)
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), Body: strings.NewReader("checked"), ChecksumAlgorithm: alg})
		wantCode(t, "put with "+string(alg), err, "")
		h, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("photos"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
		if err != nil || (h.ChecksumCRC32 == nil && h.ChecksumCRC32C == nil && h.ChecksumSHA1 == nil && h.ChecksumSHA256 == nil && h.ChecksumCRC64NVME == nil) {
			t.Errorf("head %s = %+v, %v: no checksum returned", key, h, err)
		}
	}
	// A seekable body is sent with a precomputed header checksum and a signed payload hash.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("photos"), Key: aws.String("seekable"), Body: bytes.NewReader([]byte("abc")),
		ChecksumSHA256: aws.String("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")})
	wantCode(t, "wrong sha256 checksum", err, "BadDigest")

	// Copy with the metadata kept, and replaced.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt"), CopySource: aws.String("photos/dir/cat.txt")})
	wantCode(t, "copy", err, "")
	body, out = getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt")})
	if body != "meow meow" || out.Metadata["color"] != "grey" {
		t.Errorf("copy = %q %v", body, out.Metadata)
	}
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt"), CopySource: aws.String("photos/dir/cat.txt"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"color": "black"}, ContentType: aws.String("text/x-cat")})
	wantCode(t, "copy replace", err, "")
	_, out = getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("photos"), Key: aws.String("copy.txt")})
	if out.Metadata["color"] != "black" || aws.ToString(out.ContentType) != "text/x-cat" {
		t.Errorf("copy replace = %v %s", out.Metadata, aws.ToString(out.ContentType))
	}

	// Tagging.
	tg, err := c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt")})
	if err != nil || len(tg.TagSet) != 1 || aws.ToString(tg.TagSet[0].Key) != "kind" {
		t.Errorf("tagging = %+v, %v", tg, err)
	}
	_, err = c.PutObjectTagging(ctx, &s3.PutObjectTaggingInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt"),
		Tagging: &types.Tagging{TagSet: []types.Tag{{Key: aws.String("a"), Value: aws.String("1")}, {Key: aws.String("b"), Value: aws.String("2")}}}})
	wantCode(t, "put tagging", err, "")
	tg, _ = c.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String("photos"), Key: aws.String("dir/cat.txt")})
	if len(tg.TagSet) != 2 {
		t.Errorf("tags after put = %+v", tg.TagSet)
	}

	// Bulk delete, then the bucket can go.
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantCode(t, "delete non-empty bucket", err, "BucketNotEmpty")
	keys := listKeys(t, c, "photos", "")
	var ids []types.ObjectIdentifier
	for _, k := range keys {
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	del, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String("photos"), Delete: &types.Delete{Objects: ids}})
	if err != nil || len(del.Deleted) != len(keys) || len(del.Errors) != 0 {
		t.Fatalf("DeleteObjects = %+v, %v", del, err)
	}
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("photos")})
	wantCode(t, "delete empty bucket", err, "")
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, digits[c>>4], digits[c&15])
	}
	return string(out)
}

func listKeys(t *testing.T, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("ListObjectsV2: %v", err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func TestListing(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("list")})
	names := []string{"a", "b/1", "b/2", "b/c/3", "c%d", "d e", "ü"}
	for _, k := range names {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("list"), Key: aws.String(k), Body: strings.NewReader(k)})
		wantCode(t, "put "+k, err, "")
	}
	if got := strings.Join(listKeys(t, c, "list", ""), ","); got != strings.Join(names, ",") {
		t.Errorf("all keys (paged by 2) = %s", got)
	}
	if got := strings.Join(listKeys(t, c, "list", "b/"), ","); got != "b/1,b/2,b/c/3" {
		t.Errorf("prefix b/ = %s", got)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/")})
	if err != nil || len(out.Contents) != 4 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/" {
		t.Errorf("delimiter = %+v, %v", out, err)
	}
	out, _ = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Prefix: aws.String("b/"), Delimiter: aws.String("/")})
	if len(out.Contents) != 2 || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "b/c/" {
		t.Errorf("prefix+delimiter = %+v", out)
	}
	// Paging with a delimiter continues after a common prefix.
	var seen []string
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("list"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			seen = append(seen, aws.ToString(o.Key))
		}
		for _, cp := range page.CommonPrefixes {
			seen = append(seen, aws.ToString(cp.Prefix))
		}
	}
	if got := strings.Join(seen, ","); got != "a,b/,c%d,d e,ü" {
		t.Errorf("delimited pages = %s", got)
	}
	out, _ = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), StartAfter: aws.String("c%d")})
	if len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "d e" {
		t.Errorf("start-after = %+v", out.Contents)
	}
	out, _ = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("list"), EncodingType: types.EncodingTypeUrl, Prefix: aws.String("d")})
	if len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "d%20e" {
		t.Errorf("encoding-type=url = %+v", out.Contents)
	}
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("list"), Marker: aws.String("b/2"), MaxKeys: aws.Int32(2)})
	if err != nil || len(v1.Contents) != 2 || aws.ToString(v1.Contents[0].Key) != "b/c/3" || !aws.ToBool(v1.IsTruncated) {
		t.Errorf("v1 = %+v, %v", v1, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	t.Parallel()
	srv, a, _ := startS3(t, nil)
	b := s3Client(srv, srv.NewTenant(t, "beta", ""))
	a.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("private")})
	a.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("secret"), Body: strings.NewReader("s3cr3t")})

	lb, _ := b.ListBuckets(ctx, &s3.ListBucketsInput{})
	if len(lb.Buckets) != 0 {
		t.Errorf("beta lists %+v", lb.Buckets)
	}
	_, err := b.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("secret")})
	wantCode(t, "beta reads", err, "AccessDenied")
	_, err = b.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("private")})
	wantCode(t, "beta lists", err, "AccessDenied")
	_, err = b.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("secret"), Body: strings.NewReader("evil")})
	wantCode(t, "beta overwrites", err, "AccessDenied")
	_, err = b.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("private"), Key: aws.String("secret")})
	wantCode(t, "beta deletes", err, "AccessDenied")
	_, err = b.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("private")})
	wantCode(t, "beta deletes bucket", err, "AccessDenied")
	_, err = b.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("private"), Key: aws.String("x"), CopySource: aws.String("private/secret")})
	wantCode(t, "beta copies", err, "AccessDenied")
	_, err = b.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("private")})
	wantCode(t, "beta takes the name", err, "BucketAlreadyExists")
	b.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mine")})
	_, err = b.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("mine"), Key: aws.String("x"), CopySource: aws.String("private/secret")})
	wantCode(t, "beta copies into its own bucket", err, "AccessDenied")
	_, err = b.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("private"), Policy: aws.String(`{"Statement":[]}`)})
	wantCode(t, "beta sets a policy", err, "AccessDenied")

	body, _ := getBody(t, a, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("secret")})
	if body != "s3cr3t" {
		t.Errorf("object after beta's attempts = %q", body)
	}
	// A reader of the project can read but not write.
	r := s3Client(srv, srv.NewTenantUser(t, "alpha", "reader"))
	if body, _ := getBody(t, r, &s3.GetObjectInput{Bucket: aws.String("private"), Key: aws.String("secret")}); body != "s3cr3t" {
		t.Errorf("reader get = %q", body)
	}
	_, err = r.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("private"), Key: aws.String("r"), Body: strings.NewReader("x")})
	wantCode(t, "reader writes", err, "AccessDenied")
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("bad-req")})
	wantCode(t, "create", err, "")
	wrong := s3Client(srv, servertest.Tenant{Access: tn.Access, Secret: "not-the-secret"})
	_, err = wrong.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "wrong secret", err, "SignatureDoesNotMatch")
	unknown := s3Client(srv, servertest.Tenant{Access: "AKIDUNKNOWN", Secret: "x"})
	_, err = unknown.ListBuckets(ctx, &s3.ListBucketsInput{})
	wantCode(t, "unknown key", err, "InvalidAccessKeyId")
	_, err = wrong.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bad-req"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, "put with wrong secret", err, "SignatureDoesNotMatch")

	raw := func(method, path, body string, hdr map[string]string) (int, string) {
		req, _ := http.NewRequest(method, srv.S3URL+path, strings.NewReader(body))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		name, method, path string
		hdr                map[string]string
		status             int
		code               string
	}{
		{"anonymous-list", "GET", "/bad-req", nil, 403, "AccessDenied"},
		{"anonymous-put", "PUT", "/bad-req/k", nil, 403, "AccessDenied"},
		{"v2-signature", "GET", "/bad-req", map[string]string{"Authorization": "AWS AKID:sig"}, 400, "InvalidRequest"},
		{"malformed-auth", "GET", "/bad-req", map[string]string{"Authorization": "AWS4-HMAC-SHA256 garbage"}, 400, "AuthorizationHeaderMalformed"},
		{"skewed", "GET", "/bad-req", map[string]string{"X-Amz-Date": "20200101T000000Z", "Authorization": "AWS4-HMAC-SHA256 Credential=" + tn.Access + "/20200101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"}, 403, "RequestTimeTooSkewed"},
		{"bad-presign", "GET", "/bad-req/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=x", nil, 400, "AuthorizationQueryParametersError"},
		{"oversized-headers", "GET", "/bad-req", map[string]string{"X-Big": strings.Repeat("a", 20<<10)}, 400, "RequestHeaderSectionTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := raw(tc.method, tc.path, "", tc.hdr)
			if status != tc.status || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.path, status, body, tc.status, tc.code)
			}
		})
	}
	// Malformed bodies, correctly signed.
	for _, tc := range []struct{ name, method, path, body, code string }{
		{"delete-not-xml", "POST", "/bad-req?delete", "<Delete><Object>", "MalformedXML"},
		{"delete-empty", "POST", "/bad-req?delete", "<Delete></Delete>", "MalformedXML"},
		{"policy-not-json", "PUT", "/bad-req?policy", "not json", "MalformedPolicy"},
		{"policy-condition", "PUT", "/bad-req?policy", `{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::bad-req/*","Condition":{"IpAddress":{}}}]}`, "MalformedPolicy"},
		{"versioning-empty", "PUT", "/bad-req?versioning", "<VersioningConfiguration/>", "MalformedXML"},
		{"complete-garbage", "POST", "/bad-req/k?uploadId=nope", "<x", "NoSuchUpload"},
		{"tagging-not-xml", "PUT", "/bad-req/k?tagging", "tags", "NoSuchKey"},
		{"cors-empty", "PUT", "/bad-req?cors", "<CORSConfiguration/>", "MalformedXML"},
		{"bad-max-keys", "GET", "/bad-req?list-type=2&max-keys=x", "", "InvalidArgument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := signedRaw(t, srv, tn, tc.method, tc.path, tc.body)
			if status < 400 || !strings.Contains(body, "<Code>"+tc.code+"</Code>") {
				t.Errorf("%s %s = %d %s, want %s", tc.method, tc.path, status, body, tc.code)
			}
		})
	}
	lo, _ := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("bad-req")})
	if len(lo.Contents) != 0 {
		t.Errorf("bucket after bad requests has %d objects", len(lo.Contents))
	}
	if _, err := c.GetBucketPolicy(ctx, &s3.GetBucketPolicyInput{Bucket: aws.String("bad-req")}); err == nil {
		t.Error("a malformed policy was stored")
	}
}

// signedRaw sends a SigV4-signed request with an arbitrary body.
func signedRaw(t *testing.T, srv *servertest.Server, tn servertest.Tenant, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.S3URL+path, strings.NewReader(body))
	sum := sha256.Sum256([]byte(body))
	payload := hex.EncodeToString(sum[:])
	req.Header.Set("X-Amz-Content-Sha256", payload)
	err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: tn.Access, SecretAccessKey: tn.Secret}, req, payload, "s3", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPresignedURLs(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("share")})
	ps := s3.NewPresignClient(c)
	put, err := ps.PresignPutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("share"), Key: aws.String("f")}, s3.WithPresignExpires(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", put.URL, strings.NewReader("presigned body"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("presigned PUT = %v %v", resp, err)
	}
	resp.Body.Close()
	get, _ := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("share"), Key: aws.String("f")}, s3.WithPresignExpires(time.Minute))
	resp, err = http.Get(get.URL)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "presigned body" {
		t.Errorf("presigned GET = %d %q", resp.StatusCode, b)
	}
	// A tampered URL fails.
	resp, _ = http.Get(strings.Replace(get.URL, "/f?", "/g?", 1))
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("tampered presigned URL = %d, want 403", resp.StatusCode)
	}
	// An expired URL fails.
	old, _ := ps.PresignGetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("share"), Key: aws.String("f")}, func(o *s3.PresignOptions) {
		o.Expires = time.Second
		o.ClientOptions = append(o.ClientOptions, func(o *s3.Options) {})
	})
	time.Sleep(1100 * time.Millisecond)
	resp, _ = http.Get(old.URL)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "expired") {
		t.Errorf("expired presigned URL = %d %s", resp.StatusCode, b)
	}
}
