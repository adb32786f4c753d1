package objectstore_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestObjectLock: a bucket made with object lock keeps versioning; its
// default retention, per-version retention and legal hold stop anyone
// (the owner, another project) from deleting a version; GOVERNANCE yields
// to an authorised bypass, COMPLIANCE to nothing and can only grow.
func TestObjectLock(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	stranger := s3Client(srv, srv.NewTenant(t, "beta", ""))
	b := aws.String("vault")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)})
	wantCode(t, "create with lock", err, "")
	v, _ := c.GetBucketVersioning(ctx, &s3.GetBucketVersioningInput{Bucket: b})
	if v.Status != types.BucketVersioningStatusEnabled {
		t.Errorf("versioning of a lock bucket = %q", v.Status)
	}
	_, err = c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: b, VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusSuspended}})
	wantCode(t, "suspend versioning", err, "InvalidBucketState")
	_, err = c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: b, ObjectLockConfiguration: &types.ObjectLockConfiguration{
		ObjectLockEnabled: types.ObjectLockEnabledEnabled, Rule: &types.ObjectLockRule{DefaultRetention: &types.DefaultRetention{Mode: types.ObjectLockRetentionModeGovernance, Days: aws.Int32(1)}}}})
	wantCode(t, "default retention", err, "")
	_, err = stranger.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: b, ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}})
	wantCode(t, "another project sets the lock", err, "AccessDenied")

	// The default retention: GOVERNANCE for a day.
	gov, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("gov"), Body: strings.NewReader("g")})
	wantCode(t, "put", err, "")
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("gov")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeGovernance || head.ObjectLockRetainUntilDate == nil || time.Until(*head.ObjectLockRetainUntilDate) < 23*time.Hour {
		t.Fatalf("default retention on HEAD = %v %v, %v", head.ObjectLockMode, head.ObjectLockRetainUntilDate, err)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId})
	wantCode(t, "delete a governed version", err, "AccessDenied")
	_, err = stranger.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "another project bypasses", err, "AccessDenied")
	out, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: b, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("gov"), VersionId: gov.VersionId}}}})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "AccessDenied" {
		t.Errorf("multi-delete of a governed version = %+v, %v", out, err)
	}
	// A delete marker is always allowed: the version stays.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov")})
	wantCode(t, "delete marker", err, "")
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId})
	wantCode(t, "the version is kept", err, "")

	// COMPLIANCE: only longer, never bypassed.
	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	comp, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("comp"), Body: strings.NewReader("c"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until)})
	wantCode(t, "put compliance", err, "")
	ret, err := c.GetObjectRetention(ctx, &s3.GetObjectRetentionInput{Bucket: b, Key: aws.String("comp"), VersionId: comp.VersionId})
	if err != nil || ret.Retention.Mode != types.ObjectLockRetentionModeCompliance || !ret.Retention.RetainUntilDate.Equal(until) {
		t.Errorf("retention = %+v, %v", ret, err)
	}
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"), VersionId: comp.VersionId, BypassGovernanceRetention: aws.Bool(true),
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeGovernance, RetainUntilDate: aws.Time(until)}})
	wantCode(t, "compliance to governance", err, "AccessDenied")
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"), VersionId: comp.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(-time.Hour))}})
	wantCode(t, "shorten compliance", err, "AccessDenied")
	_, err = c.PutObjectRetention(ctx, &s3.PutObjectRetentionInput{Bucket: b, Key: aws.String("comp"), VersionId: comp.VersionId,
		Retention: &types.ObjectLockRetention{Mode: types.ObjectLockRetentionModeCompliance, RetainUntilDate: aws.Time(until.Add(time.Hour))}})
	wantCode(t, "extend compliance", err, "")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("comp"), VersionId: comp.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "delete compliance with bypass", err, "AccessDenied")

	// Legal hold: nobody deletes, bypass or not, until it is off.
	_, err = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOn}})
	wantCode(t, "legal hold on", err, "")
	_, err = stranger.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
	wantCode(t, "another project lifts the hold", err, "AccessDenied")
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "delete under legal hold", err, "AccessDenied")
	_, err = c.PutObjectLegalHold(ctx, &s3.PutObjectLegalHoldInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId,
		LegalHold: &types.ObjectLockLegalHold{Status: types.ObjectLockLegalHoldStatusOff}})
	wantCode(t, "legal hold off", err, "")
	// GOVERNANCE yields to the owner's bypass.
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("gov"), VersionId: gov.VersionId, BypassGovernanceRetention: aws.Bool(true)})
	wantCode(t, "delete governed with bypass", err, "")

	// Without object lock a bucket has none of this.
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("plain")})
	_, err = c.GetObjectLockConfiguration(ctx, &s3.GetObjectLockConfigurationInput{Bucket: aws.String("plain")})
	wantCode(t, "lock config of a plain bucket", err, "ObjectLockConfigurationNotFoundError")
	_, err = c.PutObjectLockConfiguration(ctx, &s3.PutObjectLockConfigurationInput{Bucket: aws.String("plain"), ObjectLockConfiguration: &types.ObjectLockConfiguration{ObjectLockEnabled: types.ObjectLockEnabledEnabled}})
	wantCode(t, "lock on an unversioned bucket", err, "InvalidBucketState")
}

// TestObjectLockAWSCLI: the same through /usr/bin/aws.
func TestObjectLockAWSCLI(t *testing.T) {
	t.Parallel()
	srv, _, tn := startS3(t, nil)
	aws := awsCLI(t, srv, tn)
	aws(true, "s3api", "create-bucket", "--bucket", "cli-vault", "--object-lock-enabled-for-bucket")
	aws(true, "s3api", "put-object-lock-configuration", "--bucket", "cli-vault", "--object-lock-configuration",
		`{"ObjectLockEnabled":"Enabled","Rule":{"DefaultRetention":{"Mode":"COMPLIANCE","Days":1}}}`)
	var cfg map[string]any
	json.Unmarshal([]byte(aws(true, "s3api", "get-object-lock-configuration", "--bucket", "cli-vault")), &cfg)
	if b, _ := json.Marshal(cfg); !strings.Contains(string(b), "COMPLIANCE") {
		t.Errorf("get-object-lock-configuration = %v", cfg)
	}
	f := t.TempDir() + "/f"
	os.WriteFile(f, []byte("keep me"), 0o600)
	var put map[string]any
	json.Unmarshal([]byte(aws(true, "s3api", "put-object", "--bucket", "cli-vault", "--key", "f", "--body", f)), &put)
	ver, _ := put["VersionId"].(string)
	if out := aws(false, "s3api", "delete-object", "--bucket", "cli-vault", "--key", "f", "--version-id", ver); !strings.Contains(out, "AccessDenied") {
		t.Errorf("delete-object of a locked version:\n%s", out)
	}
	if out := aws(true, "s3api", "get-object-retention", "--bucket", "cli-vault", "--key", "f", "--version-id", ver); !strings.Contains(out, "COMPLIANCE") {
		t.Errorf("get-object-retention = %s", out)
	}
}

// TestObjectLockMultipart: retention and legal hold asked for when a
// multipart upload starts are the completed object's.
func TestObjectLockMultipart(t *testing.T) {
	t.Parallel()
	_, c, _ := startS3(t, nil)
	b := aws.String("mp-vault")
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b, ObjectLockEnabledForBucket: aws.Bool(true)})
	wantCode(t, "create with lock", err, "")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: b, Key: aws.String("big"),
		ObjectLockMode: types.ObjectLockModeCompliance, ObjectLockRetainUntilDate: aws.Time(until), ObjectLockLegalHoldStatus: types.ObjectLockLegalHoldStatusOn})
	if err != nil {
		t.Fatal(err)
	}
	part, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: b, Key: aws.String("big"), UploadId: up.UploadId, PartNumber: aws.Int32(1), Body: strings.NewReader("locked data")})
	if err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: b, Key: aws.String("big"), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: part.ETag}}}})
	if err != nil {
		t.Fatal(err)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: b, Key: aws.String("big")})
	if err != nil || head.ObjectLockMode != types.ObjectLockModeCompliance || !aws.ToTime(head.ObjectLockRetainUntilDate).Equal(until) ||
		head.ObjectLockLegalHoldStatus != types.ObjectLockLegalHoldStatusOn {
		t.Fatalf("the completed object's lock: %v %+v", err, head)
	}
	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("big"), VersionId: done.VersionId})
	wantCode(t, "delete the locked version", err, "AccessDenied")
	// On a bucket without object lock the headers are refused, as for PUT.
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mp-plain")})
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("mp-plain"), Key: aws.String("x"),
		ObjectLockMode: types.ObjectLockModeGovernance, ObjectLockRetainUntilDate: aws.Time(until)})
	wantCode(t, "lock headers without object lock", err, "InvalidRequest")
}
