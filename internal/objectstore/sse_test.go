package objectstore_test

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// atRest reports whether marker appears in what the server keeps: any
// file of its data directory (object files, the SQLite database and its
// journal) or the data, headers or data key of an object row (so on
// PostgreSQL too).
func atRest(t *testing.T, srv *servertest.Server, marker []byte) bool {
	t.Helper()
	found := false
	filepath.WalkDir(srv.DataDir(), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || found {
			return nil
		}
		b, err := os.ReadFile(path)
		if err == nil && bytes.Contains(b, marker) {
			found = true
		}
		return nil
	})
	rows, err := srv.Store(t).Query(ctx, `SELECT inline_data, headers, sse_key FROM objects`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		var headers, key string
		rows.Scan(&data, &headers, &key)
		found = found || bytes.Contains(data, marker) || strings.Contains(headers+key, string(marker))
	}
	return found
}

// markedData is size random bytes with a marker at the start and the end.
func markedData(marker string, size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	copy(b, marker)
	copy(b[size-len(marker):], marker)
	return b
}

func readAll(t *testing.T, c *s3.Client, in *s3.GetObjectInput) ([]byte, *s3.GetObjectOutput, error) {
	t.Helper()
	out, err := c.GetObject(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

func TestSSES3(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vault")})
	small := markedData("SMALL-PLAINTEXT-MARKER", 1000)
	large := markedData("LARGE-PLAINTEXT-MARKER", 300<<10)
	for name, data := range map[string][]byte{"small": small, "large": large} {
		put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String(name), Body: bytes.NewReader(data),
			ServerSideEncryption: types.ServerSideEncryptionAes256})
		wantCode(t, "put "+name, err, "")
		if put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Errorf("put %s: x-amz-server-side-encryption = %q", name, put.ServerSideEncryption)
		}
		sum := md5.Sum(data)
		if aws.ToString(put.ETag) != `"`+hex.EncodeToString(sum[:])+`"` {
			t.Errorf("put %s: ETag %s is not the MD5 of the data", name, aws.ToString(put.ETag))
		}
		got, out, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String(name)})
		if err != nil || !bytes.Equal(got, data) || out.ServerSideEncryption != types.ServerSideEncryptionAes256 {
			t.Fatalf("get %s: %v, equal %v, sse %q", name, err, bytes.Equal(got, data), out.ServerSideEncryption)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("vault"), Key: aws.String(name)})
		if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 || aws.ToInt64(head.ContentLength) != int64(len(data)) {
			t.Errorf("head %s: %v %+v", name, err, head)
		}
	}
	// A range across chunk borders reads what was written there.
	got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("large"), Range: aws.String("bytes=65530-131080")})
	if err != nil || !bytes.Equal(got, large[65530:131081]) {
		t.Errorf("range: %v, %d bytes", err, len(got))
	}
	for _, m := range []string{"SMALL-PLAINTEXT-MARKER", "LARGE-PLAINTEXT-MARKER"} {
		if atRest(t, srv, []byte(m)) {
			t.Errorf("%s is on disk in plain text", m)
		}
	}
	// A plain object is stored as it is: the check above could fail.
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("plain"), Body: strings.NewReader("PLAIN-CONTROL-MARKER")})
	if !atRest(t, srv, []byte("PLAIN-CONTROL-MARKER")) {
		t.Error("the plain control object is not found on disk: the search finds nothing")
	}

	// A copy of an encrypted object to a plain one, and back.
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy"), CopySource: aws.String("vault/large")})
	wantCode(t, "copy", err, "")
	if cp.ServerSideEncryption != "" {
		t.Errorf("a copy without encryption asked reports %q", cp.ServerSideEncryption)
	}
	if got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("copy")}); err != nil || !bytes.Equal(got, large) {
		t.Errorf("copy reads back: %v", err)
	}
	cp, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("vault"), Key: aws.String("plain"), CopySource: aws.String("vault/plain"),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil || cp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Errorf("encrypting an object in place: %v", err)
	}

	// Another project reads nothing, encrypted or not.
	other := s3Client(srv, srv.NewTenant(t, "beta", ""))
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("small")})
	wantCode(t, "other project's get", err, "AccessDenied")

	// SSE-KMS waits for the key manager; nothing is stored meanwhile.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("kms"), Body: strings.NewReader("x"),
		ServerSideEncryption: types.ServerSideEncryptionAwsKms})
	wantCode(t, "SSE-KMS put", err, "NotImplemented")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vault"), Key: aws.String("bad"), Body: strings.NewReader("x"),
		ServerSideEncryption: "AES128"})
	wantCode(t, "unknown algorithm", err, "InvalidArgument")

	// A rotated master key reseals the data keys; the objects still read.
	srv = srv.RestartWith(t, func(cfg *server.Config) { cfg.RotateMasterKey = true })
	c = s3Client(srv, tn)
	if got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("large")}); err != nil || !bytes.Equal(got, large) {
		t.Fatalf("after rotating the master key: %v", err)
	}
	keys := sealedDataKeys(t, srv)
	if len(keys) != 3 {
		t.Fatalf("sealed data keys = %d, want 3", len(keys))
	}
	var mk struct{ Primary string }
	b, _ := os.ReadFile(filepath.Join(srv.DataDir(), "master.key"))
	if err := json.Unmarshal(b, &mk); err != nil || mk.Primary == "" {
		t.Fatalf("master key file: %v", err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, "sov1:"+mk.Primary+":") {
			t.Errorf("a data key is not sealed under the new master key: %.30s", k)
		}
	}

	// Data changed on disk does not read as data.
	blob := largestFile(t, filepath.Join(srv.DataDir(), "objects"))
	b, _ = os.ReadFile(blob)
	b[len(b)/2] ^= 1
	os.WriteFile(blob, b, 0o600)
	got, _, err = readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("vault"), Key: aws.String("large")})
	if err == nil && bytes.Equal(got, large) {
		t.Error("tampered data read back as the original")
	}
	if err == nil && len(got) == len(large) {
		t.Errorf("tampered data was served whole (%d bytes)", len(got))
	}
}

func sealedDataKeys(t *testing.T, srv *servertest.Server) []string {
	t.Helper()
	rows, err := srv.Store(t).Query(ctx, `SELECT sse_key FROM objects WHERE sse = 'AES256'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		rows.Scan(&k)
		keys = append(keys, k)
	}
	return keys
}

func largestFile(t *testing.T, dir string) string {
	t.Helper()
	var best string
	var size int64
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil && fi.Size() > size {
				best, size = path, fi.Size()
			}
		}
		return nil
	})
	return best
}

func TestBucketDefaultEncryption(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("dflt")})
	_, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("dflt")})
	wantCode(t, "no configuration", err, "ServerSideEncryptionConfigurationNotFoundError")
	rule := func(alg types.ServerSideEncryption) *types.ServerSideEncryptionConfiguration {
		return &types.ServerSideEncryptionConfiguration{Rules: []types.ServerSideEncryptionRule{{
			ApplyServerSideEncryptionByDefault: &types.ServerSideEncryptionByDefault{SSEAlgorithm: alg}}}}
	}
	other := s3Client(srv, srv.NewTenant(t, "beta", ""))
	_, err = other.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("dflt"), ServerSideEncryptionConfiguration: rule(types.ServerSideEncryptionAes256)})
	wantCode(t, "another project sets it", err, "AccessDenied")
	_, err = c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("dflt"), ServerSideEncryptionConfiguration: rule(types.ServerSideEncryptionAwsKms)})
	wantCode(t, "KMS default", err, "NotImplemented")
	_, err = c.PutBucketEncryption(ctx, &s3.PutBucketEncryptionInput{Bucket: aws.String("dflt"), ServerSideEncryptionConfiguration: rule(types.ServerSideEncryptionAes256)})
	wantCode(t, "put", err, "")
	got, err := c.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("dflt")})
	if err != nil || got.ServerSideEncryptionConfiguration.Rules[0].ApplyServerSideEncryptionByDefault.SSEAlgorithm != types.ServerSideEncryptionAes256 {
		t.Fatalf("get: %v", err)
	}
	_, err = other.GetBucketEncryption(ctx, &s3.GetBucketEncryptionInput{Bucket: aws.String("dflt")})
	wantCode(t, "another project reads it", err, "AccessDenied")

	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dflt"), Key: aws.String("k"), Body: strings.NewReader("DEFAULT-ENCRYPTED-MARKER")})
	if err != nil || put.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("put under the default: %v %q", err, put.ServerSideEncryption)
	}
	if atRest(t, srv, []byte("DEFAULT-ENCRYPTED-MARKER")) {
		t.Error("an object under the bucket default is stored in plain text")
	}
	// A multipart upload takes the default too.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dflt"), Key: aws.String("mpart")})
	if err != nil || up.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("create upload under the default: %v %q", err, up.ServerSideEncryption)
	}
	_, err = c.DeleteBucketEncryption(ctx, &s3.DeleteBucketEncryptionInput{Bucket: aws.String("dflt")})
	wantCode(t, "delete", err, "")
	put, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("dflt"), Key: aws.String("after"), Body: strings.NewReader("x")})
	if err != nil || put.ServerSideEncryption != "" {
		t.Errorf("put after delete: %v %q", err, put.ServerSideEncryption)
	}
	if got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("dflt"), Key: aws.String("k")}); err != nil || string(got) != "DEFAULT-ENCRYPTED-MARKER" {
		t.Errorf("the encrypted object after the default went: %q %v", got, err)
	}
}

// customer is an SSE-C key as the SDK's inputs take it.
type customer struct{ key, md5 string }

func newCustomer() customer {
	k := make([]byte, 32)
	rand.Read(k)
	sum := md5.Sum(k)
	return customer{base64.StdEncoding.EncodeToString(k), base64.StdEncoding.EncodeToString(sum[:])}
}

func TestSSEC(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("cust")})
	key, wrong := newCustomer(), newCustomer()
	data := markedData("CUSTOMER-KEY-MARKER", 200<<10)
	put, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cust"), Key: aws.String("k"), Body: bytes.NewReader(data),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(key.key), SSECustomerKeyMD5: aws.String(key.md5)})
	if err != nil || aws.ToString(put.SSECustomerKeyMD5) != key.md5 || aws.ToString(put.SSECustomerAlgorithm) != "AES256" {
		t.Fatalf("put: %v %+v", err, put)
	}
	sum := md5.Sum(data)
	if strings.Contains(aws.ToString(put.ETag), hex.EncodeToString(sum[:])) {
		t.Error("an SSE-C object's ETag is the MD5 of its plaintext")
	}
	if atRest(t, srv, []byte("CUSTOMER-KEY-MARKER")) {
		t.Error("SSE-C data is on disk in plain text")
	}
	raw, _ := base64.StdEncoding.DecodeString(key.key)
	if atRest(t, srv, raw) || atRest(t, srv, []byte(key.key)) {
		t.Error("the customer's key is on disk")
	}

	get := func(k customer, rng string) ([]byte, error) {
		in := &s3.GetObjectInput{Bucket: aws.String("cust"), Key: aws.String("k")}
		if k.key != "" {
			in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
		}
		if rng != "" {
			in.Range = aws.String(rng)
		}
		b, _, err := readAll(t, c, in)
		return b, err
	}
	_, err = get(customer{}, "")
	wantCode(t, "get without the key", err, "InvalidRequest")
	_, err = get(wrong, "")
	wantCode(t, "get with another key", err, "AccessDenied")
	if got, err := get(key, ""); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get with the key: %v", err)
	}
	if got, err := get(key, "bytes=100000-100099"); err != nil || !bytes.Equal(got, data[100000:100100]) {
		t.Errorf("range with the key: %v", err)
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cust"), Key: aws.String("k")})
	if err == nil || !strings.Contains(err.Error(), "StatusCode: 400") {
		t.Errorf("head without the key: %v, want 400", err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("cust"), Key: aws.String("k"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(key.key), SSECustomerKeyMD5: aws.String(key.md5)})
	if err != nil || aws.ToString(head.SSECustomerKeyMD5) != key.md5 {
		t.Errorf("head with the key: %v", err)
	}
	// A key whose MD5 does not match, or a short one, is refused.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cust"), Key: aws.String("bad"), Body: strings.NewReader("x"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(key.key), SSECustomerKeyMD5: aws.String(wrong.md5)})
	wantCode(t, "mismatched MD5", err, "InvalidArgument")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("cust"), Key: aws.String("bad"), Body: strings.NewReader("x"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(base64.StdEncoding.EncodeToString([]byte("short")))})
	wantCode(t, "short key", err, "InvalidArgument")

	// Copy: the source's key opens it, the target is sealed as asked.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cust"), Key: aws.String("copy"), CopySource: aws.String("cust/k")})
	wantCode(t, "copy without the source key", err, "InvalidRequest")
	cp, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("cust"), Key: aws.String("copy"), CopySource: aws.String("cust/k"),
		CopySourceSSECustomerAlgorithm: aws.String("AES256"), CopySourceSSECustomerKey: aws.String(key.key), CopySourceSSECustomerKeyMD5: aws.String(key.md5),
		ServerSideEncryption: types.ServerSideEncryptionAes256})
	if err != nil || cp.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("copy to SSE-S3: %v", err)
	}
	if got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("cust"), Key: aws.String("copy")}); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the copy: %v", err)
	}
	// A key for an object not sealed with one is an error, as in AWS.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cust"), Key: aws.String("copy"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(key.key), SSECustomerKeyMD5: aws.String(key.md5)})
	wantCode(t, "key for an SSE-S3 object", err, "InvalidRequest")

	// Another project, even with the right key, reads nothing.
	other := s3Client(srv, srv.NewTenant(t, "beta", ""))
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("cust"), Key: aws.String("k"),
		SSECustomerAlgorithm: aws.String("AES256"), SSECustomerKey: aws.String(key.key), SSECustomerKeyMD5: aws.String(key.md5)})
	wantCode(t, "another project with the key", err, "AccessDenied")
}

func TestEncryptedMultipart(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mpart")})
	key, wrong := newCustomer(), newCustomer()
	parts := [][]byte{markedData("PART-ONE", 5<<20), markedData("PART-TWO", 5<<20+123), markedData("PART-THREE", 70<<10)}
	whole := bytes.Join(parts, nil)
	for _, mode := range []string{"SSE-S3", "SSE-C"} {
		t.Run(mode, func(t *testing.T) {
			obj := aws.String("obj-" + mode)
			create := &s3.CreateMultipartUploadInput{Bucket: aws.String("mpart"), Key: obj, ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
			withKey := func(k customer) (*string, *string, *string) {
				if mode != "SSE-C" {
					return nil, nil, nil
				}
				return aws.String("AES256"), aws.String(k.key), aws.String(k.md5)
			}
			if mode == "SSE-S3" {
				create.ServerSideEncryption = types.ServerSideEncryptionAes256
			} else {
				create.SSECustomerAlgorithm, create.SSECustomerKey, create.SSECustomerKeyMD5 = withKey(key)
			}
			up, err := c.CreateMultipartUpload(ctx, create)
			if err != nil {
				t.Fatal(err)
			}
			if mode == "SSE-C" {
				// A small body: the answer comes before a large one is read.
				in := &s3.UploadPartInput{Bucket: aws.String("mpart"), Key: obj, UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(parts[2][:1000])}
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = withKey(wrong)
				_, err := c.UploadPart(ctx, in)
				wantCode(t, "a part under another key", err, "AccessDenied")
			}
			var done []types.CompletedPart
			for i, p := range parts {
				in := &s3.UploadPartInput{Bucket: aws.String("mpart"), Key: obj, UploadId: up.UploadId, PartNumber: aws.Int32(int32(i + 1)),
					Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32}
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = withKey(key)
				out, err := c.UploadPart(ctx, in)
				if err != nil {
					t.Fatalf("part %d: %v", i+1, err)
				}
				done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
			}
			complete := &s3.CompleteMultipartUploadInput{Bucket: aws.String("mpart"), Key: obj, UploadId: up.UploadId,
				MultipartUpload: &types.CompletedMultipartUpload{Parts: done}}
			complete.SSECustomerAlgorithm, complete.SSECustomerKey, complete.SSECustomerKeyMD5 = withKey(key)
			if _, err := c.CompleteMultipartUpload(ctx, complete); err != nil {
				t.Fatal(err)
			}
			get := func(rng string, part int32) ([]byte, *s3.GetObjectOutput, error) {
				in := &s3.GetObjectInput{Bucket: aws.String("mpart"), Key: obj}
				in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = withKey(key)
				if rng != "" {
					in.Range = aws.String(rng)
				}
				if part != 0 {
					in.PartNumber = aws.Int32(part)
				}
				return readAll(t, c, in)
			}
			if got, _, err := get("", 0); err != nil || !bytes.Equal(got, whole) {
				t.Fatalf("whole object: %v, %d bytes", err, len(got))
			}
			border := int64(len(parts[0]))
			if got, _, err := get("bytes=5242000-5243000", 0); err != nil || !bytes.Equal(got, whole[5242000:5243001]) {
				t.Errorf("range across parts %d: %v", border, err)
			}
			got, out, err := get("", 2)
			if err != nil || !bytes.Equal(got, parts[1]) || aws.ToInt32(out.PartsCount) != 3 {
				t.Errorf("part 2: %v, %d bytes, parts count %d", err, len(got), aws.ToInt32(out.PartsCount))
			}
			_, _, err = get("", 4)
			wantCode(t, "part 4 of 3", err, "InvalidPartNumber")
			attrs := &s3.GetObjectAttributesInput{Bucket: aws.String("mpart"), Key: obj, MaxParts: aws.Int32(2),
				ObjectAttributes: []types.ObjectAttributes{types.ObjectAttributesObjectParts}}
			attrs.SSECustomerAlgorithm, attrs.SSECustomerKey, attrs.SSECustomerKeyMD5 = withKey(key)
			a, err := c.GetObjectAttributes(ctx, attrs)
			if err != nil {
				t.Fatal(err)
			}
			op := a.ObjectParts
			if aws.ToInt32(op.TotalPartsCount) != 3 || len(op.Parts) != 2 || !aws.ToBool(op.IsTruncated) ||
				aws.ToInt64(op.Parts[1].Size) != int64(len(parts[1])) || aws.ToString(op.Parts[1].ChecksumCRC32) != aws.ToString(done[1].ChecksumCRC32) {
				t.Errorf("object parts: %+v", op)
			}
			attrs.PartNumberMarker = op.NextPartNumberMarker
			if a, err := c.GetObjectAttributes(ctx, attrs); err != nil || len(a.ObjectParts.Parts) != 1 || aws.ToInt32(a.ObjectParts.Parts[0].PartNumber) != 3 {
				t.Errorf("second page of parts: %v", err)
			}
		})
	}
}

// TestEncryptionAWSCLI: SSE-S3, a bucket default and SSE-C through /usr/bin/aws.
func TestEncryptionAWSCLI(t *testing.T) {
	t.Parallel()
	srv, _, tn := startS3(t, nil)
	aws := awsCLI(t, srv, tn)
	dir := t.TempDir()
	aws(true, "s3", "mb", "s3://cli-sse")
	f := filepath.Join(dir, "f")
	os.WriteFile(f, markedData("CLI-SSE-MARKER", 9<<20), 0o600) // a multipart upload for the CLI
	aws(true, "s3", "cp", "--sse", "AES256", f, "s3://cli-sse/s3")
	if out := aws(true, "s3api", "head-object", "--bucket", "cli-sse", "--key", "s3"); !strings.Contains(out, `"ServerSideEncryption": "AES256"`) {
		t.Errorf("head-object of an SSE-S3 upload:\n%s", out)
	}
	back := filepath.Join(dir, "back")
	aws(true, "s3", "cp", "s3://cli-sse/s3", back)
	if a, b := readFile(t, f), readFile(t, back); !bytes.Equal(a, b) {
		t.Error("SSE-S3 round trip differs")
	}

	aws(true, "s3api", "put-bucket-encryption", "--bucket", "cli-sse", "--server-side-encryption-configuration",
		`{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"}}]}`)
	if out := aws(true, "s3api", "get-bucket-encryption", "--bucket", "cli-sse"); !strings.Contains(out, `"SSEAlgorithm": "AES256"`) {
		t.Errorf("get-bucket-encryption:\n%s", out)
	}
	if out := aws(true, "s3api", "put-object", "--bucket", "cli-sse", "--key", "dflt", "--body", f); !strings.Contains(out, `"ServerSideEncryption": "AES256"`) {
		t.Errorf("put-object under the default:\n%s", out)
	}

	keyFile := filepath.Join(dir, "key")
	key := make([]byte, 32)
	rand.Read(key)
	os.WriteFile(keyFile, key, 0o600)
	aws(true, "s3", "cp", "--sse-c", "AES256", "--sse-c-key", "fileb://"+keyFile, f, "s3://cli-sse/c")
	if out := aws(false, "s3", "cp", "s3://cli-sse/c", back+"2"); !strings.Contains(out, "400") {
		t.Errorf("an SSE-C download without the key:\n%s", out)
	}
	aws(true, "s3", "cp", "--sse-c", "AES256", "--sse-c-key", "fileb://"+keyFile, "s3://cli-sse/c", back+"3")
	if a, b := readFile(t, f), readFile(t, back+"3"); !bytes.Equal(a, b) {
		t.Error("SSE-C round trip differs")
	}
	if out := aws(false, "s3api", "put-object", "--bucket", "cli-sse", "--key", "kms", "--body", f, "--server-side-encryption", "aws:kms"); !strings.Contains(out, "NotImplemented") {
		t.Errorf("an SSE-KMS upload:\n%s", out)
	}
	if atRest(t, srv, []byte("CLI-SSE-MARKER")) {
		t.Error("data uploaded with encryption is on disk in plain text")
	}
}

func readFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
