package objectstore_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
	"github.com/minio/minio-go/v7/pkg/lifecycle"
	"github.com/minio/minio-go/v7/pkg/sse"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestMinioFeatures: object lock, lifecycle, bucket encryption, SSE-S3 and
// SSE-C through minio-go, over HTTPS; another project and an anonymous
// caller can neither read nor change any of it.
func TestMinioFeatures(t *testing.T) {
	t.Parallel()
	srv := servertest.StartTLS(t, nil)
	tn := srv.NewTenant(t, "alpha", "")
	u, _ := url.Parse(srv.S3URL)
	client := func(tn servertest.Tenant) *minio.Client {
		mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(tn.Access, tn.Secret, ""), Secure: true,
			Region: "us-east-1", Transport: srv.HTTPClient.Transport})
		if err != nil {
			t.Fatal(err)
		}
		return mc
	}
	mc, other := client(tn), client(srv.NewTenant(t, "beta", ""))
	anon := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.S3URL+path, nil)
		resp, err := srv.HTTPClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// Object lock: a GOVERNANCE default, a COMPLIANCE version nobody deletes.
	if err := mc.MakeBucket(ctx, "mlock", minio.MakeBucketOptions{ObjectLocking: true}); err != nil {
		t.Fatal(err)
	}
	mode, days, unit := minio.Governance, uint(1), minio.Days
	if err := mc.SetObjectLockConfig(ctx, "mlock", &mode, &days, &unit); err != nil {
		t.Fatal(err)
	}
	if err := other.SetObjectLockConfig(ctx, "mlock", nil, nil, nil); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project's lock configuration: %v", err)
	}
	info, err := mc.PutObject(ctx, "mlock", "kept", strings.NewReader("kept"), 4, minio.PutObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	comp, until := minio.Compliance, time.Now().Add(time.Hour)
	if err := mc.PutObjectRetention(ctx, "mlock", "kept", minio.PutObjectRetentionOptions{Mode: &comp, RetainUntilDate: &until, VersionID: info.VersionID, GovernanceBypass: true}); err != nil {
		t.Fatal(err)
	}
	if err := mc.RemoveObject(ctx, "mlock", "kept", minio.RemoveObjectOptions{VersionID: info.VersionID, GovernanceBypass: true}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("deleting a COMPLIANCE version: %v", err)
	}
	if code := anon("DELETE", "/mlock/kept?versionId="+info.VersionID); code != 403 {
		t.Errorf("anonymous delete of a locked version = %d", code)
	}

	// Lifecycle rules, set and read back; not by others.
	if err := mc.MakeBucket(ctx, "mlife", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	lc := lifecycle.NewConfiguration()
	lc.Rules = []lifecycle.Rule{{ID: "logs", Status: "Enabled", RuleFilter: lifecycle.Filter{Prefix: "logs/"}, Expiration: lifecycle.Expiration{Days: 30}}}
	if err := mc.SetBucketLifecycle(ctx, "mlife", lc); err != nil {
		t.Fatal(err)
	}
	if got, err := mc.GetBucketLifecycle(ctx, "mlife"); err != nil || len(got.Rules) != 1 || got.Rules[0].Expiration.Days != 30 {
		t.Errorf("lifecycle read back: %v %+v", err, got)
	}
	if _, err := other.GetBucketLifecycle(ctx, "mlife"); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project reads the lifecycle: %v", err)
	}
	if err := other.SetBucketLifecycle(ctx, "mlife", lifecycle.NewConfiguration()); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project changes the lifecycle: %v", err)
	}
	if code := anon("DELETE", "/mlife?lifecycle"); code != 403 {
		t.Errorf("anonymous lifecycle delete = %d", code)
	}

	// Bucket encryption and SSE-S3.
	if err := mc.SetBucketEncryption(ctx, "mlife", sse.NewConfigurationSSES3()); err != nil {
		t.Fatal(err)
	}
	if got, err := mc.GetBucketEncryption(ctx, "mlife"); err != nil || got.Rules[0].Apply.SSEAlgorithm != "AES256" {
		t.Errorf("bucket encryption read back: %v", err)
	}
	if err := other.RemoveBucketEncryption(ctx, "mlife"); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project removes the encryption: %v", err)
	}
	if _, err := mc.PutObject(ctx, "mlife", "s3", strings.NewReader("MINIO-SSE-S3"), -1, minio.PutObjectOptions{ServerSideEncryption: encrypt.NewSSE()}); err != nil {
		t.Fatal(err)
	}
	if st, err := mc.StatObject(ctx, "mlife", "s3", minio.StatObjectOptions{}); err != nil || st.Metadata.Get("X-Amz-Server-Side-Encryption") != "AES256" {
		t.Errorf("stat of an SSE-S3 object: %v %v", err, st.Metadata)
	}
	if code := anon("GET", "/mlife/s3"); code != 403 {
		t.Errorf("anonymous read of an SSE-S3 object = %d", code)
	}

	// SSE-C: a 3-part upload under the customer's key.
	key := make([]byte, 32)
	rand.Read(key)
	sseC, err := encrypt.NewSSEC(key)
	if err != nil {
		t.Fatal(err)
	}
	data := markedData("MINIO-SSE-C", 11<<20)
	if _, err := mc.PutObject(ctx, "mlife", "c", bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ServerSideEncryption: sseC, PartSize: 5 << 20}); err != nil {
		t.Fatal(err)
	}
	obj, err := mc.GetObject(ctx, "mlife", "c", minio.GetObjectOptions{ServerSideEncryption: sseC})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("SSE-C multipart read back: %v, %d bytes", err, len(got))
	}
	if _, err := mc.StatObject(ctx, "mlife", "c", minio.StatObjectOptions{}); err == nil {
		t.Error("stat of an SSE-C object without its key succeeded")
	}
	if _, err := other.StatObject(ctx, "mlife", "c", minio.StatObjectOptions{ServerSideEncryption: sseC}); minio.ToErrorResponse(err).Code != "AccessDenied" {
		t.Errorf("another project with the key: %v", err)
	}
	for _, m := range []string{"MINIO-SSE-S3", "MINIO-SSE-C"} {
		if atRest(t, srv, []byte(m)) {
			t.Errorf("%s is on disk in plain text", m)
		}
	}
}
