package objectstore_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestRestrictedCredentialsCannotWidenS3: a token from an application
// credential limited to reader cannot make EC2 credentials (for its own
// project, another project of the user, or with a blob of its choosing),
// nor application credentials, nor delete credentials; an unrestricted
// one makes EC2 credentials that carry no more than its roles and die with
// it; a user's token makes them only for the project it is scoped to.
func TestRestrictedCredentialsCannotWidenS3(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("data")})
	admin := srv.Admin(t)
	other, err := projects.Create(ctx, admin, projects.CreateOpts{Name: "other", DomainID: "default"}).Extract()
	if err != nil {
		t.Fatal(err)
	}
	pages, _ := roles.List(admin, roles.ListOpts{Name: "member"}).AllPages(ctx)
	member, _ := roles.ExtractRoles(pages)
	if err := roles.Assign(ctx, admin, member[0].ID, roles.AssignOpts{UserID: tn.UserID, ProjectID: other.ID}).ExtractErr(); err != nil {
		t.Fatal(err)
	}
	user := srv.Login(t, gophercloud.AuthOptions{UserID: tn.UserID, Password: tn.Password, Scope: &gophercloud.AuthScope{ProjectID: tn.ProjectID}})
	appCred := func(name string, unrestricted bool) (*applicationcredentials.ApplicationCredential, *gophercloud.ServiceClient) {
		ac, err := applicationcredentials.Create(ctx, user, tn.UserID, applicationcredentials.CreateOpts{Name: name,
			Roles: []applicationcredentials.Role{{Name: "reader"}}, Unrestricted: unrestricted}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		return ac, srv.Login(t, gophercloud.AuthOptions{ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
	}
	_, restricted := appCred("restricted", false)
	_, err = ec2credentials.Create(ctx, restricted, tn.UserID, ec2credentials.CreateOpts{TenantID: tn.ProjectID}).Extract()
	servertest.WantStatus(t, "restricted: ec2 for its project", err, http.StatusForbidden)
	_, err = ec2credentials.Create(ctx, restricted, tn.UserID, ec2credentials.CreateOpts{TenantID: other.ID}).Extract()
	servertest.WantStatus(t, "restricted: ec2 for another project", err, http.StatusForbidden)
	_, err = credentials.Create(ctx, restricted, credentials.CreateOpts{Type: "ec2", UserID: tn.UserID, ProjectID: tn.ProjectID,
		Blob: `{"access":"chosen-access","secret":"chosen-secret"}`}).Extract()
	servertest.WantStatus(t, "restricted: ec2 with a chosen blob", err, http.StatusForbidden)
	_, err = applicationcredentials.Create(ctx, restricted, tn.UserID, applicationcredentials.CreateOpts{Name: "child"}).Extract()
	servertest.WantStatus(t, "restricted: application credential", err, http.StatusForbidden)
	servertest.WantStatus(t, "restricted: delete ec2", ec2credentials.Delete(ctx, restricted, tn.UserID, tn.Access).ExtractErr(), http.StatusForbidden)
	_, err = ec2credentials.List(restricted, tn.UserID).AllPages(ctx)
	servertest.WantStatus(t, "restricted: list the user's ec2 secrets", err, http.StatusForbidden)
	_, err = ec2credentials.Get(ctx, restricted, tn.UserID, tn.Access).Extract()
	servertest.WantStatus(t, "restricted: show an ec2 secret", err, http.StatusForbidden)
	_, err = credentials.List(restricted, credentials.ListOpts{}).AllPages(ctx)
	servertest.WantStatus(t, "restricted: list credentials", err, http.StatusForbidden)
	chosen := s3Client(srv, servertest.Tenant{Access: "chosen-access", Secret: "chosen-secret"})
	_, err = chosen.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	wantCode(t, "chosen key", err, "InvalidAccessKeyId")

	// Unrestricted: the EC2 credential reads but cannot write (reader), and
	// stops working when the application credential is deleted.
	free, unrestricted := appCred("unrestricted", true)
	_, err = ec2credentials.Create(ctx, unrestricted, tn.UserID, ec2credentials.CreateOpts{TenantID: other.ID}).Extract()
	servertest.WantStatus(t, "unrestricted: ec2 for another project", err, http.StatusForbidden)
	ec2, err := ec2credentials.Create(ctx, unrestricted, tn.UserID, ec2credentials.CreateOpts{TenantID: tn.ProjectID}).Extract()
	servertest.WantStatus(t, "unrestricted: ec2 for its project", err, 0)
	reader := s3Client(srv, servertest.Tenant{Access: ec2.Access, Secret: ec2.Secret})
	_, err = reader.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	wantCode(t, "capped key reads", err, "")
	_, err = reader.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("data"), Key: aws.String("k"), Body: strings.NewReader("x")})
	wantCode(t, "capped key writes", err, "AccessDenied")
	_, err = reader.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("mine")})
	wantCode(t, "capped key creates a bucket", err, "AccessDenied")
	servertest.WantStatus(t, "delete app cred", applicationcredentials.Delete(ctx, user, tn.UserID, free.ID).ExtractErr(), 0)
	_, err = reader.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("data")})
	wantCode(t, "key of a deleted app cred", err, "InvalidAccessKeyId")

	// A user's own token: only for the project it is scoped to.
	_, err = ec2credentials.Create(ctx, user, tn.UserID, ec2credentials.CreateOpts{TenantID: other.ID}).Extract()
	servertest.WantStatus(t, "user: ec2 for another project", err, http.StatusForbidden)
}
