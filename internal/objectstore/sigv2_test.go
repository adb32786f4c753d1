package objectstore_test

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/sovcloud/sov/internal/server"
)

// TestSigV2: minio-go signing with AWS Signature Version 2 works when
// --s3-sigv2 allows it, and is refused otherwise; a changed header or
// another key fails.
func TestSigV2(t *testing.T) {
	t.Parallel()
	srv, _, tn := startS3(t, func(cfg *server.Config) { cfg.S3.SigV2 = true })
	u, _ := url.Parse(srv.S3URL)
	v2 := func(access, secret string) *minio.Client {
		mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV2(access, secret, ""), Region: "us-east-1"})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	mc := v2(tn.Access, tn.Secret)
	if err := mc.MakeBucket(ctx, "old-client", minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket with V2: %v", err)
	}
	data := markedData("V2", 12<<20) // a multipart upload
	if _, err := mc.PutObject(ctx, "old-client", "dir/big file+1", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{PartSize: 5 << 20, UserMetadata: map[string]string{"origin": "v2"}}); err != nil {
		t.Fatalf("multipart put with V2: %v", err)
	}
	obj, err := mc.GetObject(ctx, "old-client", "dir/big file+1", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("get with V2: %v, %d bytes", err, len(got))
	}
	n := 0
	for o := range mc.ListObjects(ctx, "old-client", minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		n++
	}
	if n != 1 {
		t.Errorf("listed %d objects", n)
	}
	if _, err := mc.GetObjectTagging(ctx, "old-client", "dir/big file+1", minio.GetObjectTaggingOptions{}); err != nil {
		t.Errorf("a subresource with V2: %v", err)
	}
	pu, err := mc.PresignedGetObject(ctx, "old-client", "dir/big file+1", time.Minute, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(pu.String())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(b, data) {
		t.Errorf("V2 presigned GET: %d, %d bytes", resp.StatusCode, len(b))
	}
	// A presigned URL whose key is changed, or signed with another secret, fails.
	bad := strings.Replace(pu.String(), "big%20file", "other", 1)
	if resp, _ := http.Get(bad); resp == nil || resp.StatusCode != 403 {
		t.Errorf("a changed V2 presigned URL: %v", resp)
	}
	if _, err := v2(tn.Access, "wrong-secret").ListBuckets(ctx); err == nil || minio.ToErrorResponse(err).Code != "SignatureDoesNotMatch" {
		t.Errorf("V2 with the wrong secret: %v", err)
	}
	// Another project signs V2 as well: it gets only what it may.
	other := srv.NewTenant(t, "beta", "")
	if _, err := v2(other.Access, other.Secret).StatObject(ctx, "old-client", "dir/big file+1", minio.StatObjectOptions{}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project's V2 read: %v", err)
	}

	// Without --s3-sigv2 the same client is refused.
	off, _, tn2 := startS3(t, nil)
	ou, _ := url.Parse(off.S3URL)
	mc2, _ := minio.New(ou.Host, &minio.Options{Creds: miniocreds.NewStaticV2(tn2.Access, tn2.Secret, ""), Region: "us-east-1"})
	if _, err := mc2.ListBuckets(ctx); err == nil || minio.ToErrorResponse(err).Code != "InvalidRequest" {
		t.Errorf("V2 with SigV2 off: %v", err)
	}
}
