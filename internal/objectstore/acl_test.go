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

// TestACLGrants: grants to another project and to groups, by header and
// by AccessControlPolicy body, give exactly the access they name.
func TestACLGrants(t *testing.T) {
	t.Parallel()
	srv, c, alpha := startS3(t, nil)
	betaT, gammaT := srv.NewTenant(t, "beta", ""), srv.NewTenant(t, "gamma", "")
	beta, gamma := s3Client(srv, betaT), s3Client(srv, gammaT)
	betaReader := s3Client(srv, srv.NewTenantUser(t, "beta", "reader"))
	b := aws.String("shared")
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: b})
	anon := func(method, path string) int {
		req, _ := http.NewRequest(method, srv.S3URL+path, strings.NewReader("anon"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}

	// An object readable by beta through a grant header.
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("for-beta"), Body: strings.NewReader("hello beta"),
		GrantRead: aws.String(`id="` + betaT.ProjectID + `"`)})
	wantCode(t, "put with a grant", err, "")
	if body, _ := getBody(t, beta, &s3.GetObjectInput{Bucket: b, Key: aws.String("for-beta")}); body != "hello beta" {
		t.Errorf("beta reads %q", body)
	}
	_, err = gamma.GetObject(ctx, &s3.GetObjectInput{Bucket: b, Key: aws.String("for-beta")})
	wantCode(t, "gamma reads beta's grant", err, "AccessDenied")
	if code := anon("GET", "/shared/for-beta"); code != 403 {
		t.Errorf("anonymous read of a granted object = %d", code)
	}
	_, err = beta.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: aws.String("for-beta")})
	wantCode(t, "beta reads the ACL without READ_ACP", err, "AccessDenied")
	acl, err := c.GetObjectAcl(ctx, &s3.GetObjectAclInput{Bucket: b, Key: aws.String("for-beta")})
	if err != nil || len(acl.Grants) != 2 || aws.ToString(acl.Grants[1].Grantee.ID) != betaT.ProjectID || acl.Grants[1].Permission != types.PermissionRead ||
		aws.ToString(acl.Owner.ID) != alpha.ProjectID {
		t.Fatalf("object ACL: %v %+v", err, acl)
	}
	_, err = beta.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, "an object grant lists the bucket", err, "AccessDenied")

	// WRITE and READ_ACP on the bucket for beta, by an AccessControlPolicy body.
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, AccessControlPolicy: &types.AccessControlPolicy{
		Owner: &types.Owner{ID: aws.String(alpha.ProjectID)},
		Grants: []types.Grant{
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String(alpha.ProjectID)}, Permission: types.PermissionFullControl},
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String(betaT.ProjectID)}, Permission: types.PermissionWrite},
			{Grantee: &types.Grantee{Type: types.TypeCanonicalUser, ID: aws.String(betaT.ProjectID)}, Permission: types.PermissionReadAcp},
		}}})
	wantCode(t, "put bucket ACL body", err, "")
	_, err = beta.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("from-beta"), Body: strings.NewReader("b")})
	wantCode(t, "beta writes with WRITE", err, "")
	_, err = betaReader.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("from-reader"), Body: strings.NewReader("r")})
	wantCode(t, "beta's reader writes", err, "AccessDenied")
	_, err = gamma.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("from-gamma"), Body: strings.NewReader("g")})
	wantCode(t, "gamma writes", err, "AccessDenied")
	got, err := beta.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b})
	if err != nil || len(got.Grants) != 3 {
		t.Errorf("beta reads the bucket ACL with READ_ACP: %v %+v", err, got)
	}
	_, err = beta.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicRead})
	wantCode(t, "beta changes the ACL without WRITE_ACP", err, "AccessDenied")
	_, err = beta.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, "WRITE lists", err, "AccessDenied")
	if body, _ := getBody(t, c, &s3.GetObjectInput{Bucket: b, Key: aws.String("from-beta")}); body != "b" {
		t.Errorf("the owner reads what beta wrote: %q", body)
	}
	_, err = beta.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: b, Key: aws.String("from-beta")})
	wantCode(t, "beta deletes with WRITE", err, "")

	// Every authenticated caller may list; anonymous callers may not.
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"`)})
	wantCode(t, "grant authenticated read", err, "")
	_, err = gamma.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, "an authenticated caller lists", err, "")
	if code := anon("GET", "/shared"); code != 403 {
		t.Errorf("anonymous listing under authenticated-read = %d", code)
	}
	// public-read-write: anyone writes.
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPublicReadWrite})
	wantCode(t, "public-read-write", err, "")
	if code := anon("PUT", "/shared/anon"); code != 200 {
		t.Errorf("anonymous PUT under public-read-write = %d", code)
	}

	// Bad ACLs change nothing.
	for _, tc := range []struct {
		name string
		in   *s3.PutBucketAclInput
		code string
	}{
		{"canned with grants", &s3.PutBucketAclInput{Bucket: b, ACL: types.BucketCannedACLPrivate, GrantRead: aws.String(`id="` + betaT.ProjectID + `"`)}, "InvalidRequest"},
		{"unknown group", &s3.PutBucketAclInput{Bucket: b, GrantRead: aws.String(`uri="http://acs.amazonaws.com/groups/global/Nobody"`)}, "InvalidArgument"},
		{"bad id", &s3.PutBucketAclInput{Bucket: b, GrantRead: aws.String(`id="not-an-id"`)}, "InvalidArgument"},
		{"email", &s3.PutBucketAclInput{Bucket: b, GrantRead: aws.String(`emailAddress="x@example.org"`)}, "NotImplemented"},
		{"another owner", &s3.PutBucketAclInput{Bucket: b, AccessControlPolicy: &types.AccessControlPolicy{Owner: &types.Owner{ID: aws.String(betaT.ProjectID)}}}, "AccessDenied"},
		{"unknown canned", &s3.PutBucketAclInput{Bucket: b, ACL: "everyone-everything"}, "InvalidArgument"},
	} {
		_, err := c.PutBucketAcl(ctx, tc.in)
		wantCode(t, tc.name, err, tc.code)
	}
	if got, _ := c.GetBucketAcl(ctx, &s3.GetBucketAclInput{Bucket: b}); got == nil || len(got.Grants) != 3 {
		t.Errorf("a refused ACL changed the bucket's: %+v", got)
	}

	// IgnorePublicAcls drops the public grants, not the project ones.
	_, err = c.PutBucketAcl(ctx, &s3.PutBucketAclInput{Bucket: b, GrantRead: aws.String(`id="` + betaT.ProjectID + `", uri="http://acs.amazonaws.com/groups/global/AllUsers"`)})
	wantCode(t, "project and public grant", err, "")
	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{IgnorePublicAcls: aws.Bool(true)}})
	wantCode(t, "ignore public ACLs", err, "")
	if code := anon("GET", "/shared"); code != 403 {
		t.Errorf("anonymous listing with IgnorePublicAcls = %d", code)
	}
	_, err = beta.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: b})
	wantCode(t, "beta's own grant under IgnorePublicAcls", err, "")
	_, err = c.PutPublicAccessBlock(ctx, &s3.PutPublicAccessBlockInput{Bucket: b, PublicAccessBlockConfiguration: &types.PublicAccessBlockConfiguration{BlockPublicAcls: aws.Bool(true)}})
	wantCode(t, "block public ACLs", err, "")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: b, Key: aws.String("pub"), Body: strings.NewReader("x"), ACL: types.ObjectCannedACLAuthenticatedRead})
	wantCode(t, "authenticated-read under BlockPublicAcls", err, "AccessDenied")

	// With ACLs off (BucketOwnerEnforced) grants are refused.
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("enforced")})
	_, err = c.PutBucketOwnershipControls(ctx, &s3.PutBucketOwnershipControlsInput{Bucket: aws.String("enforced"),
		OwnershipControls: &types.OwnershipControls{Rules: []types.OwnershipControlsRule{{ObjectOwnership: types.ObjectOwnershipBucketOwnerEnforced}}}})
	wantCode(t, "enforce ownership", err, "")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("k"), Body: strings.NewReader("x"),
		GrantRead: aws.String(`id="` + betaT.ProjectID + `"`)})
	wantCode(t, "a grant with ACLs off", err, "AccessControlListNotSupported")
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("enforced"), Key: aws.String("k"), Body: strings.NewReader("x"),
		ACL: types.ObjectCannedACLBucketOwnerFullControl})
	wantCode(t, "bucket-owner-full-control with ACLs off", err, "")
}
