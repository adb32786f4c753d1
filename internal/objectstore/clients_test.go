package objectstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

func TestMinioClient(t *testing.T) {
	t.Parallel()
	srv, _, tn := startS3(t, nil)
	u, _ := url.Parse(srv.S3URL)
	mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(tn.Access, tn.Secret, ""), Secure: false, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := mc.MakeBucket(ctx, "minio-bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("MakeBucket: %v", err)
	}
	data := make([]byte, 6<<20) // above minio-go's part size threshold? no: it streams one part
	rand.Read(data)
	info, err := mc.PutObject(ctx, "minio-bucket", "blob", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: "application/octet-stream", UserMetadata: map[string]string{"origin": "minio"}})
	if err != nil || info.Size != int64(len(data)) {
		t.Fatalf("PutObject = %+v, %v", info, err)
	}
	// Unknown size: minio-go switches to a multipart upload.
	big := make([]byte, 17<<20)
	rand.Read(big)
	_, err = mc.PutObject(ctx, "minio-bucket", "streamed", bytes.NewReader(big), -1, minio.PutObjectOptions{PartSize: 5 << 20})
	if err != nil {
		t.Fatalf("PutObject (multipart): %v", err)
	}
	st, err := mc.StatObject(ctx, "minio-bucket", "blob", minio.StatObjectOptions{})
	if err != nil || st.Size != int64(len(data)) || st.UserMetadata["Origin"] != "minio" {
		t.Fatalf("StatObject = %+v, %v", st, err)
	}
	for key, want := range map[string][]byte{"blob": data, "streamed": big} {
		obj, err := mc.GetObject(ctx, "minio-bucket", key, minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("GetObject %s: %d bytes, %v", key, len(got), err)
		}
	}
	var keys []string
	for o := range mc.ListObjects(ctx, "minio-bucket", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		keys = append(keys, o.Key)
	}
	if strings.Join(keys, ",") != "blob,streamed" {
		t.Errorf("ListObjects = %v", keys)
	}
	purl, err := mc.PresignedGetObject(ctx, "minio-bucket", "blob", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(purl.String())
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || n != int64(len(data)) {
		t.Errorf("presigned GET = %d, %d bytes", resp.StatusCode, n)
	}
	if err := mc.RemoveObject(ctx, "minio-bucket", "blob", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := mc.StatObject(ctx, "minio-bucket", "blob", minio.StatObjectOptions{}); err == nil {
		t.Error("removed object still there")
	}
	// Another tenant is refused.
	other := srv.NewTenant(t, "other", "")
	oc, _ := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(other.Access, other.Secret, ""), Region: "us-east-1"})
	if _, err := oc.StatObject(ctx, "minio-bucket", "streamed", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("other tenant StatObject = %v", err)
	}
}

func TestVirtualHostStyle(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, func(cfg *server.Config) { cfg.S3.Domain = "s3.localhost" })
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("vhost")})
	c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b.txt"), Body: strings.NewReader("virtual")})
	u, _ := url.Parse(srv.S3URL)
	vc := s3.New(s3.Options{BaseEndpoint: aws.String("http://s3.localhost:" + u.Port()), Region: "us-east-1",
		Credentials: s3Client(srv, tn).Options().Credentials,
		HTTPClient:  &http.Client{Transport: &http.Transport{DialContext: (&dialer{addr: u.Host}).dial}}})
	body, _ := getBody(t, vc, &s3.GetObjectInput{Bucket: aws.String("vhost"), Key: aws.String("a/b.txt")})
	if body != "virtual" {
		t.Errorf("virtual-host GET = %q", body)
	}
}

// awsCLI returns a runner of Debian's aws CLI as the tenant, against srv:
// it fails the test unless the command's success is wantOK, and returns
// its output (JSON). Without the CLI the test is skipped, except in CI
// where that is a failure.
func awsCLI(t *testing.T, srv *servertest.Server, tn servertest.Tenant) func(wantOK bool, args ...string) string {
	t.Helper()
	const bin = "/usr/bin/aws"
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("the aws CLI (Debian package awscli) is required in CI")
		}
		t.Skip("aws CLI not installed")
	}
	home := t.TempDir()
	return func(wantOK bool, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, append([]string{"--endpoint-url", srv.S3URL, "--region", "us-east-1", "--output", "json"}, args...)...)
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID="+tn.Access, "AWS_SECRET_ACCESS_KEY="+tn.Secret, "AWS_CONFIG_FILE=/dev/null",
			"AWS_SHARED_CREDENTIALS_FILE=/dev/null", "HOME="+home)
		out, err := cmd.CombinedOutput()
		if (err == nil) != wantOK {
			t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
}

func TestAWSCLI(t *testing.T) {
	t.Parallel()
	srv, _, tn := startS3(t, nil)
	cli := awsCLI(t, srv, tn)
	run := func(args ...string) string { t.Helper(); return cli(true, args...) }
	dir := t.TempDir()
	run("s3", "mb", "s3://cli-bucket")
	// A 100 MiB file goes up as a multipart upload (8 MiB parts by default).
	big := filepath.Join(dir, "big.bin")
	data := make([]byte, 100<<20)
	rand.Read(data)
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run("s3", "cp", big, "s3://cli-bucket/big.bin")
	back := filepath.Join(dir, "back.bin")
	run("s3", "cp", "s3://cli-bucket/big.bin", back)
	got, _ := os.ReadFile(back)
	if !bytes.Equal(got, data) {
		t.Fatalf("100 MiB round trip: got %d bytes, different content", len(got))
	}
	head := run("s3api", "head-object", "--bucket", "cli-bucket", "--key", "big.bin")
	if !strings.Contains(head, `-13\"`) {
		t.Errorf("head-object of a 13-part upload: %s", head)
	}
	// sync a tree, then ls.
	tree := filepath.Join(dir, "tree")
	for _, f := range []string{"a.txt", "sub/b.txt", "sub/c.txt"} {
		os.MkdirAll(filepath.Dir(filepath.Join(tree, f)), 0o700)
		os.WriteFile(filepath.Join(tree, f), []byte("file "+f), 0o600)
	}
	run("s3", "sync", tree, "s3://cli-bucket/tree")
	ls := run("s3", "ls", "--recursive", "s3://cli-bucket/tree/")
	for _, f := range []string{"tree/a.txt", "tree/sub/b.txt", "tree/sub/c.txt"} {
		if !strings.Contains(ls, f) {
			t.Errorf("ls lacks %s:\n%s", f, ls)
		}
	}
	// A second sync uploads nothing.
	if out := run("s3", "sync", tree, "s3://cli-bucket/tree"); strings.Contains(out, "upload:") {
		t.Errorf("second sync uploaded again:\n%s", out)
	}
	top := run("s3", "ls", "s3://cli-bucket/")
	if !strings.Contains(top, "PRE tree/") || !strings.Contains(top, "big.bin") {
		t.Errorf("ls of the bucket:\n%s", top)
	}
	// presign, then fetch without credentials.
	u := strings.TrimSpace(run("s3", "presign", "s3://cli-bucket/tree/a.txt", "--expires-in", "60"))
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "file a.txt" {
		t.Errorf("presigned URL = %d %q", resp.StatusCode, b)
	}
	run("s3", "rm", "--recursive", "s3://cli-bucket/")
	run("s3", "rb", "s3://cli-bucket")
	if out := run("s3", "ls"); strings.Contains(out, "cli-bucket") {
		t.Errorf("bucket still listed:\n%s", out)
	}
}

// dialer sends every connection to one address, so that virtual-host names
// like vhost.s3.localhost reach the test server without DNS.
type dialer struct{ addr string }

func (d *dialer) dial(ctx context.Context, network, _ string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, d.addr)
}

// TestHTTPS runs the SDK over HTTPS, where it sends bodies as
// STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer by default.
func TestHTTPS(t *testing.T) {
	t.Parallel()
	srv := servertest.StartTLS(t, nil)
	tn := srv.NewTenant(t, "secure", "")
	c := s3Client(srv, tn)
	if !strings.HasPrefix(srv.S3URL, "https://") {
		t.Fatalf("S3 URL %s is not https", srv.S3URL)
	}
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("tls")})
	wantCode(t, "create", err, "")
	// A reader that is not seekable: the SDK must stream it aws-chunked with a trailer.
	body := io.MultiReader(strings.NewReader("streamed "), strings.NewReader("over TLS"))
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("tls"), Key: aws.String("k"), Body: body, ContentLength: aws.Int64(17)})
	wantCode(t, "put", err, "")
	got, out := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if got != "streamed over TLS" || aws.ToString(out.ChecksumCRC32) == "" {
		t.Errorf("get = %q, crc32 %q", got, aws.ToString(out.ChecksumCRC32))
	}
	// A multipart upload over TLS, parts with trailers too.
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("tls"), Key: aws.String("m")})
	wantCode(t, "create upload", err, "")
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("tls"), Key: aws.String("m"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: strings.NewReader("only part")})
	wantCode(t, "upload part", err, "")
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("tls"), Key: aws.String("m"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{ETag: part.ETag, PartNumber: aws.Int32(1)}}}})
	wantCode(t, "complete", err, "")
	if got, _ := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("tls"), Key: aws.String("m")}); got != "only part" {
		t.Errorf("multipart over TLS = %q", got)
	}
}
