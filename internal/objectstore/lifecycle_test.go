package objectstore_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sovcloud/sov/internal/server"
)

func keysOf(t *testing.T, c *s3.Client, bucket string) []string {
	t.Helper()
	out, err := c.ListObjectVersions(ctx, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, v := range out.Versions {
		keys = append(keys, aws.ToString(v.Key)+"@"+aws.ToString(v.VersionId)[:min(4, len(aws.ToString(v.VersionId)))])
	}
	for _, m := range out.DeleteMarkers {
		keys = append(keys, aws.ToString(m.Key)+"@marker")
	}
	return keys
}

// TestLifecycle: the rules expire what is due and matches their filters,
// nothing else; noncurrent versions, lone delete markers and old uploads
// go; a locked version stays; another project cannot see or set the rules.
func TestLifecycle(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	stranger := s3Client(srv, srv.NewTenant(t, "beta", ""))
	run := func(after time.Duration) {
		t.Helper()
		if _, err := srv.Objects().RunLifecycle(ctx, time.Now().Add(after)); err != nil {
			t.Fatal(err)
		}
	}
	put := func(bucket, key, body, tags string) *s3.PutObjectOutput {
		t.Helper()
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)}
		if tags != "" {
			in.Tagging = aws.String(tags)
		}
		out, err := c.PutObject(ctx, in)
		wantCode(t, "put "+key, err, "")
		return out
	}
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lcx")})
	put("lcx", "logs/old", "x", "")
	put("lcx", "keep/old", "x", "")
	put("lcx", "tmp/small", "x", "temp=yes")
	put("lcx", "tmp/big", strings.Repeat("x", 5000), "temp=yes")
	put("lcx", "tmp/untagged", "x", "")
	_, err := c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcx"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("logs"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("logs/")},
				Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
			{ID: aws.String("tmp"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{And: &types.LifecycleRuleAndOperator{
				Prefix: aws.String("tmp/"), Tags: []types.Tag{{Key: aws.String("temp"), Value: aws.String("yes")}}, ObjectSizeLessThan: aws.Int64(1000)}},
				Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
			{ID: aws.String("off"), Status: types.ExpirationStatusDisabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("keep/")},
				Expiration: &types.LifecycleExpiration{Days: aws.Int32(1)}},
		}}})
	wantCode(t, "put lifecycle", err, "")
	got, err := c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcx")})
	if err != nil || len(got.Rules) != 3 || aws.ToString(got.Rules[1].Filter.And.Prefix) != "tmp/" {
		t.Errorf("get lifecycle = %+v, %v", got, err)
	}
	_, err = stranger.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcx")})
	wantCode(t, "another project reads the rules", err, "AccessDenied")
	_, err = stranger.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcx")})
	wantCode(t, "another project deletes the rules", err, "AccessDenied")
	run(12 * time.Hour) // not yet due
	if keys := listKeys(t, c, "lcx", ""); len(keys) != 5 {
		t.Fatalf("after half a day: %v", keys)
	}
	run(49 * time.Hour)
	if keys := strings.Join(listKeys(t, c, "lcx", ""), ","); keys != "keep/old,tmp/big,tmp/untagged" {
		t.Errorf("after two days: %s", keys)
	}

	// Versioned: noncurrent versions after a day, then the lone delete marker.
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lcv")})
	c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String("lcv"), VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}})
	put("lcv", "k", "v1", "")
	v2 := put("lcv", "k", "v2", "")
	_, err = c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcv"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{
			{ID: aws.String("history"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
				NoncurrentVersionExpiration:    &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)},
				AbortIncompleteMultipartUpload: &types.AbortIncompleteMultipartUpload{DaysAfterInitiation: aws.Int32(1)}},
			{ID: aws.String("markers"), Status: types.ExpirationStatusEnabled, Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")},
				Expiration: &types.LifecycleExpiration{ExpiredObjectDeleteMarker: aws.Bool(true)}},
		}}})
	wantCode(t, "put lifecycle", err, "")
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("lcv"), Key: aws.String("upload")})
	wantCode(t, "create upload", err, "")
	run(49 * time.Hour)
	if keys := keysOf(t, c, "lcv"); len(keys) != 1 || !strings.HasPrefix(keys[0], "k@"+aws.ToString(v2.VersionId)[:4]) {
		t.Errorf("after two days: %v, want only the current version", keys)
	}
	ups, _ := c.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("lcv")})
	if len(ups.Uploads) != 0 {
		t.Errorf("uploads after two days: %d (upload %s)", len(ups.Uploads), aws.ToString(up.UploadId))
	}
	c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("lcv"), Key: aws.String("k")})
	run(98 * time.Hour) // v2 is noncurrent now: it goes, then the marker is alone
	run(98 * time.Hour)
	if keys := keysOf(t, c, "lcv"); len(keys) != 0 {
		t.Errorf("after the marker's turn: %v", keys)
	}

	// A locked version outlives every rule.
	_, err = c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("lcl"), ObjectLockEnabledForBucket: aws.Bool(true)})
	wantCode(t, "lock bucket", err, "")
	locked, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("lcl"), Key: aws.String("k"), Body: strings.NewReader("v1"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(time.Now().Add(30 * 24 * time.Hour))})
	wantCode(t, "locked put", err, "")
	put("lcl", "k", "v2", "")
	c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcl"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("h"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, NoncurrentVersionExpiration: &types.NoncurrentVersionExpiration{NoncurrentDays: aws.Int32(1)}}}}})
	run(49 * time.Hour)
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("lcl"), Key: aws.String("k"), VersionId: locked.VersionId})
	wantCode(t, "the locked noncurrent version", err, "")

	// Transitions are refused, not ignored; deleting the rules stops them.
	_, err = c.PutBucketLifecycleConfiguration(ctx, &s3.PutBucketLifecycleConfigurationInput{Bucket: aws.String("lcx"),
		LifecycleConfiguration: &types.BucketLifecycleConfiguration{Rules: []types.LifecycleRule{{ID: aws.String("cold"), Status: types.ExpirationStatusEnabled,
			Filter: &types.LifecycleRuleFilter{Prefix: aws.String("")}, Transitions: []types.Transition{{Days: aws.Int32(30), StorageClass: types.TransitionStorageClassGlacier}}}}}})
	wantCode(t, "a transition", err, "NotImplemented")
	_, err = c.DeleteBucketLifecycle(ctx, &s3.DeleteBucketLifecycleInput{Bucket: aws.String("lcx")})
	wantCode(t, "delete lifecycle", err, "")
	_, err = c.GetBucketLifecycleConfiguration(ctx, &s3.GetBucketLifecycleConfigurationInput{Bucket: aws.String("lcx")})
	wantCode(t, "get deleted lifecycle", err, "NoSuchLifecycleConfiguration")
	run(1000 * time.Hour)
	if keys := listKeys(t, c, "lcx", ""); len(keys) != 3 {
		t.Errorf("after the rules were deleted: %v", keys)
	}
}

// TestLifecycleWorker: the background worker runs the rules on its own and
// counts what it did in /metrics; the aws CLI manages the rules.
func TestLifecycleWorker(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, func(cfg *server.Config) { cfg.LifecycleInterval = 100 * time.Millisecond })
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("auto")})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("auto"), Key: aws.String("old"), Body: strings.NewReader("x")})
	wantCode(t, "put", err, "")
	awsCLI(t, srv, tn)(true, "s3api", "put-bucket-lifecycle-configuration", "--bucket", "auto",
		"--lifecycle-configuration", `{"Rules":[{"ID":"past","Status":"Enabled","Filter":{"Prefix":""},"Expiration":{"Date":"2020-01-01T00:00:00Z"}}]}`)
	for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), `sov_s3_lifecycle_actions_total{action="expire"} 1`) {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("no expiry counted in /metrics:\n%.3000s", b)
		}
	}
	if keys := listKeys(t, c, "auto", ""); len(keys) != 0 {
		t.Errorf("the worker left %v", keys)
	}
}
