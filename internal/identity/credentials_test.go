package identity_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/ec2credentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
)

func TestApplicationCredentials(t *testing.T) {
	c := newCloud(t)
	d := c.domain("ac")
	p := c.project("p", d.ID)
	u, other := c.user("amy", d.ID), c.user("bob", d.ID)
	c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})
	c.grant("member", roles.AssignOpts{UserID: other.ID, ProjectID: p.ID})
	client := c.loginProject(u, p.ID)

	// A reader-only credential: its tokens carry reader, not member.
	expires := time.Now().Add(time.Hour)
	ac, err := applicationcredentials.Create(ctx, client, u.ID, applicationcredentials.CreateOpts{
		Name: "ci", Roles: []applicationcredentials.Role{{Name: "reader"}}, ExpiresAt: &expires}).Extract()
	wantStatus(t, "create", err, 0)
	if ac.Secret == "" || ac.ProjectID != p.ID || len(ac.Roles) != 1 || ac.Roles[0].Name != "reader" {
		t.Fatalf("created = %+v", ac)
	}
	res := tokens.Create(ctx, c.admin, &tokens.AuthOptions{ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
	rs, err := res.ExtractRoles()
	wantStatus(t, "auth with app cred", err, 0)
	if len(rs) != 1 || rs[0].Name != "reader" {
		t.Errorf("app cred token roles = %+v, want only reader", rs)
	}
	if proj, _ := res.ExtractProject(); proj == nil || proj.ID != p.ID {
		t.Errorf("app cred token project = %+v", proj)
	}
	// By name and user, as the openstack CLI can.
	_, err = c.TryLogin(gophercloud.AuthOptions{ApplicationCredentialName: "ci", UserID: u.ID, ApplicationCredentialSecret: ac.Secret})
	wantStatus(t, "auth by name", err, 0)
	_, err = c.TryLogin(gophercloud.AuthOptions{ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: "wrong"})
	wantStatus(t, "wrong secret", err, http.StatusUnauthorized)

	// A role the user does not hold cannot be delegated.
	_, err = applicationcredentials.Create(ctx, client, u.ID, applicationcredentials.CreateOpts{
		Name: "greedy", Roles: []applicationcredentials.Role{{Name: "admin"}}}).Extract()
	wantStatus(t, "delegate admin", err, http.StatusForbidden)
	past := time.Now().Add(-time.Hour)
	_, err = applicationcredentials.Create(ctx, client, u.ID, applicationcredentials.CreateOpts{Name: "old", ExpiresAt: &past}).Extract()
	wantStatus(t, "expired at creation", err, http.StatusBadRequest)

	// Another user can neither see nor delete it, nor create one for u.
	oc := c.loginProject(other, p.ID)
	_, err = applicationcredentials.Get(ctx, oc, u.ID, ac.ID).Extract()
	wantStatus(t, "other user gets", err, http.StatusForbidden)
	_, err = applicationcredentials.Get(ctx, oc, other.ID, ac.ID).Extract()
	wantStatus(t, "other user gets via own path", err, http.StatusNotFound)
	wantStatus(t, "other user deletes", applicationcredentials.Delete(ctx, oc, u.ID, ac.ID).ExtractErr(), http.StatusForbidden)
	_, err = applicationcredentials.Create(ctx, oc, u.ID, applicationcredentials.CreateOpts{Name: "x"}).Extract()
	wantStatus(t, "create for another user", err, http.StatusForbidden)

	// Deleting it revokes its tokens and stops authentication.
	tok, _ := res.ExtractToken()
	wantStatus(t, "delete", applicationcredentials.Delete(ctx, client, u.ID, ac.ID).ExtractErr(), 0)
	wantStatus(t, "token after delete", tokens.Get(ctx, c.admin, tok.ID).Err, http.StatusNotFound)
	_, err = c.TryLogin(gophercloud.AuthOptions{ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
	wantStatus(t, "auth after delete", err, http.StatusUnauthorized)
}

func TestApplicationCredentialFollowsRoles(t *testing.T) {
	c := newCloud(t)
	p := c.project("p", "default")
	u := c.user("ann", "default")
	c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})
	ac, err := applicationcredentials.Create(ctx, c.loginProject(u, p.ID), u.ID, applicationcredentials.CreateOpts{Name: "k"}).Extract()
	wantStatus(t, "create", err, 0)
	// Once the user loses the role, the credential no longer authenticates.
	wantStatus(t, "unassign", roles.Unassign(ctx, c.admin, c.roleID("member"), roles.UnassignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(), 0)
	_, err = c.TryLogin(gophercloud.AuthOptions{ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
	wantStatus(t, "auth without the role", err, http.StatusUnauthorized)
}

func TestEC2Credentials(t *testing.T) {
	c := newCloud(t)
	pa, pb := c.project("pa", "default"), c.project("pb", "default")
	ua, ub := c.user("ua", "default"), c.user("ub", "default")
	c.grant("member", roles.AssignOpts{UserID: ua.ID, ProjectID: pa.ID})
	c.grant("member", roles.AssignOpts{UserID: ub.ID, ProjectID: pb.ID})
	ca, cb := c.loginProject(ua, pa.ID), c.loginProject(ub, pb.ID)

	cred, err := ec2credentials.Create(ctx, ca, ua.ID, ec2credentials.CreateOpts{TenantID: pa.ID}).Extract()
	wantStatus(t, "create", err, 0)
	if cred.Access == "" || cred.Secret == "" || cred.TenantID != pa.ID || cred.UserID != ua.ID {
		t.Fatalf("created = %+v", cred)
	}
	got, err := ec2credentials.Get(ctx, ca, ua.ID, cred.Access).Extract()
	if err != nil || got.Secret != cred.Secret {
		t.Fatalf("get = %+v, %v", got, err)
	}
	pages, err := ec2credentials.List(ca, ua.ID).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	if list, _ := ec2credentials.ExtractCredentials(pages); len(list) != 1 {
		t.Errorf("list = %+v, want one", list)
	}
	// It is also a /v3/credentials entry of type ec2, id = sha256(access).
	pages, err = credentials.List(ca, credentials.ListOpts{}).AllPages(ctx)
	wantStatus(t, "list credentials", err, 0)
	if list, _ := credentials.ExtractCredentials(pages); len(list) != 1 || list[0].Type != "ec2" || len(list[0].ID) != 64 {
		t.Errorf("credentials = %+v", list)
	}

	// A project the user has no role on is refused.
	_, err = ec2credentials.Create(ctx, ca, ua.ID, ec2credentials.CreateOpts{TenantID: pb.ID}).Extract()
	wantStatus(t, "create for foreign project", err, http.StatusForbidden)
	// Another tenant can neither list, read nor delete them.
	_, err = ec2credentials.List(cb, ua.ID).AllPages(ctx)
	wantStatus(t, "other lists", err, http.StatusForbidden)
	_, err = ec2credentials.Get(ctx, cb, ua.ID, cred.Access).Extract()
	wantStatus(t, "other gets", err, http.StatusForbidden)
	_, err = ec2credentials.Get(ctx, cb, ub.ID, cred.Access).Extract()
	wantStatus(t, "other gets via own path", err, http.StatusNotFound)
	wantStatus(t, "other deletes", ec2credentials.Delete(ctx, cb, ua.ID, cred.Access).ExtractErr(), http.StatusForbidden)
	pages, _ = credentials.List(cb, credentials.ListOpts{}).AllPages(ctx)
	if list, _ := credentials.ExtractCredentials(pages); len(list) != 0 {
		t.Errorf("other tenant's credential list = %+v, want empty", list)
	}
	_, err = ec2credentials.Create(ctx, cb, ua.ID, ec2credentials.CreateOpts{TenantID: pb.ID}).Extract()
	wantStatus(t, "create for another user", err, http.StatusForbidden)

	wantStatus(t, "delete", ec2credentials.Delete(ctx, ca, ua.ID, cred.Access).ExtractErr(), 0)
	_, err = ec2credentials.Get(ctx, ca, ua.ID, cred.Access).Extract()
	wantStatus(t, "get deleted", err, http.StatusNotFound)
}

func TestCredentialsBlob(t *testing.T) {
	c := newCloud(t)
	u := c.user("cy", "default")
	cred, err := credentials.Create(ctx, c.admin, credentials.CreateOpts{Type: "cert", UserID: u.ID, Blob: "seed"}).Extract()
	wantStatus(t, "create", err, 0)
	got, err := credentials.Get(ctx, c.admin, cred.ID).Extract()
	if err != nil || got.Blob != "seed" {
		t.Fatalf("get = %+v, %v", got, err)
	}
	_, err = credentials.Create(ctx, c.admin, credentials.CreateOpts{Type: "totp", UserID: u.ID, Blob: "seed"}).Extract()
	wantStatus(t, "a TOTP secret that is not base32", err, http.StatusBadRequest)
	_, err = credentials.Create(ctx, c.admin, credentials.CreateOpts{Type: "ec2", UserID: u.ID, Blob: "not json", ProjectID: "x"}).Extract()
	wantStatus(t, "bad ec2 blob", err, http.StatusBadRequest)
	_, err = users.Get(ctx, c.admin, u.ID).Extract()
	wantStatus(t, "user", err, 0)
}
