package objectstore_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// TestPublicAccessBlock: each of the four settings does what AWS does, and
// BucketOwnerEnforced turns ACLs off; another project cannot change them.
func TestPublicAccessBlock(t *testing.T) {
	t.Parallel()
	srv, c, _ := startS3(t, nil)
	stranger := s3Client(srv, srv.NewTenant(t, "beta", ""))
	b := aws.String("pab")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("open"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, "public object", err, "")
	anon := func(path string) int {
		resp, err := http.Get(srv.S3URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := anon("/pab/open"); code != 200 {
		t.Fatalf("public-read object before the block = %d", code)
	}
	_, err = c.GetPublicAccessBlock(ctx, &s3.GetPublicAccessBlockInput{Bucket: b})
	wantCode(t, "no block yet", err, "NoSuchPublicAccessBlockConfiguration")
	_, err = stranger.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{}})
	wantCode(t, "another project sets the block", err, "AccessDenied")

	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
		BlockPublicAcls: aws.Bool(true), IgnorePublicAcls: aws.Bool(true)}})
	wantCode(t, "block ACLs", err, "")
	if code := anon("/pab/open"); code != 403 {
		t.Errorf("public-read object with IgnorePublicAcls = %d", code)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("new"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, "public ACL with BlockPublicAcls", err, "AccessDenied")
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "public bucket ACL with BlockPublicAcls", err, "AccessDenied")

	public := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pab/*"}]}`
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(public)})
	wantCode(t, "a public policy without BlockPublicPolicy", err, "")
	if code := anon("/pab/open"); code != 200 {
		t.Errorf("with a public policy = %d", code)
	}
	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{
		IgnorePublicAcls: aws.Bool(true), BlockPublicPolicy: aws.Bool(true), RestrictPublicBuckets: aws.Bool(true)}})
	wantCode(t, "block policies", err, "")
	if code := anon("/pab/open"); code != 403 {
		t.Errorf("a public policy under RestrictPublicBuckets = %d", code)
	}
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(public)})
	wantCode(t, "a public policy with BlockPublicPolicy", err, "AccessDenied")
	limited := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::pab/*","Condition":{"IpAddress":{"aws:SourceIp":"127.0.0.1/32"}}}]}`
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: b, Policy: aws.String(limited)})
	wantCode(t, "a policy limited to an address", err, "")
	_, err = c.DeletePublicAccessBlock(ctx, &s3.DeletePublicAccessBlockInput{Bucket: b})
	wantCode(t, "delete the block", err, "")

	// Ownership: BucketOwnerEnforced switches ACLs off.
	_, err = c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: b, OwnershipControls: &types.OwnershipControls{
		Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}})
	wantCode(t, "owner enforced", err, "")
	_, err = c.DeleteBucketPolicy(ctx, &s3.DeleteBucketPolicyInput{Bucket: b})
	wantCode(t, "delete policy", err, "")
	if code := anon("/pab/open"); code != 403 {
		t.Errorf("a public-read object under BucketOwnerEnforced = %d", code)
	}
	_, err = c.PutObjectAcl(ctx, &s3.PutObjectAclInput{Bucket: b, Key: aws.String("open"), ACL: types.ObjectCannedACLPublicRead})
	wantCode(t, "an ACL under BucketOwnerEnforced", err, "AccessControlListNotSupported")
	got, err := c.GetBucketOwnershipControls(ctx, &s3.GetBucketOwnershipControlsInput{Bucket: b})
	if err != nil || got.OwnershipControls.Rules[0].ObjectOwnership != types.ObjectOwnershipBucketOwnerEnforced {
		t.Errorf("ownership = %+v, %v", got, err)
	}
}
