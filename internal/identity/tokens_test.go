package identity_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

func TestTokenIssueValidateRevoke(t *testing.T) {
	c := newCloud(t)
	res := tokens.Create(ctx, c.admin, &tokens.AuthOptions{Username: "admin", Password: servertest.AdminPassword, DomainID: "default",
		Scope: tokens.Scope{ProjectName: "admin", DomainID: "default"}})
	tok, err := res.ExtractToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok.ID) < 20 {
		t.Fatalf("token id %q too short", tok.ID)
	}
	project, err := res.ExtractProject()
	if err != nil || project.Name != "admin" || project.Domain.ID != "default" {
		t.Fatalf("project in token = %+v, %v", project, err)
	}
	rs, _ := res.ExtractRoles()
	names := map[string]bool{}
	for _, r := range rs {
		names[r.Name] = true
	}
	for _, want := range []string{"admin", "manager", "member", "reader"} {
		if !names[want] {
			t.Errorf("token roles %v lack %s (implied roles must be in the token)", rs, want)
		}
	}
	catalog, err := res.ExtractServiceCatalog()
	if err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, e := range catalog.Entries {
		types[e.Type] = len(e.Endpoints)
	}
	for _, want := range []string{"identity", "image", "compute", "object-store-s3"} {
		if types[want] != 3 {
			t.Fatalf("catalog = %+v, want %s with public, internal and admin endpoints", catalog.Entries, want)
		}
	}

	// Validate and check with the admin client (a different token).
	got := tokens.Get(ctx, c.admin, tok.ID)
	if u, err := got.ExtractUser(); err != nil || u.Name != "admin" {
		t.Fatalf("validate: user %+v, %v", u, err)
	}
	if ok, err := tokens.Validate(ctx, c.admin, tok.ID); !ok || err != nil {
		t.Fatalf("HEAD: %v %v", ok, err)
	}
	// Revoke: the token no longer validates, nor authenticates.
	wantStatus(t, "revoke", tokens.Revoke(ctx, c.admin, tok.ID).Err, 0)
	wantStatus(t, "validate revoked", tokens.Get(ctx, c.admin, tok.ID).Err, http.StatusNotFound)
	_, err = c.TryLogin(gophercloud.AuthOptions{TokenID: tok.ID})
	wantStatus(t, "use revoked", err, http.StatusUnauthorized)
	// Garbage tokens are refused.
	wantStatus(t, "garbage", tokens.Get(ctx, c.admin, "not-a-token").Err, http.StatusNotFound)
}

func TestTokenScopes(t *testing.T) {
	c := newCloud(t)
	d := c.domain("scopes")
	p := c.project("p1", d.ID)
	u := c.user("carol", d.ID)
	c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})

	// Unscoped: no roles, no catalog.
	res := tokens.Create(ctx, c.admin, &tokens.AuthOptions{UserID: u.ID, Password: "carol-pw"})
	if _, err := res.ExtractToken(); err != nil {
		t.Fatal(err)
	}
	if p, _ := res.ExtractProject(); p != nil {
		t.Errorf("unscoped token has project %+v", p)
	}
	// Rescope the unscoped token to the project with the token method.
	unscoped, _ := res.ExtractToken()
	rescoped := tokens.Create(ctx, c.admin, &tokens.AuthOptions{TokenID: unscoped.ID, Scope: tokens.Scope{ProjectID: p.ID}})
	if proj, err := rescoped.ExtractProject(); err != nil || proj.ID != p.ID {
		t.Fatalf("rescoped project = %+v, %v", proj, err)
	}
	// No role on the domain: domain scope is refused.
	_, err := c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "carol-pw", Scope: &gophercloud.AuthScope{DomainID: d.ID}})
	wantStatus(t, "domain scope without role", err, http.StatusUnauthorized)
	// No role on the admin project: refused.
	_, err = c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "carol-pw", Scope: &gophercloud.AuthScope{ProjectName: "admin", DomainID: "default"}})
	wantStatus(t, "other project", err, http.StatusUnauthorized)
	// Wrong password.
	_, err = c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "wrong"})
	wantStatus(t, "wrong password", err, http.StatusUnauthorized)
	// A member cannot validate someone else's token.
	member := c.loginProject(u, p.ID)
	adminTok, _ := c.admin.GetAuthResult().(tokens.CreateResult).ExtractToken()
	wantStatus(t, "member validates admin token", tokens.Get(ctx, member, adminTok.ID).Err, http.StatusForbidden)
}

func TestRevocationEvents(t *testing.T) {
	c := newCloud(t)
	d := c.domain("rev")
	p := c.project("p", d.ID)
	cases := []struct {
		name   string
		revoke func(u *users.User)
	}{
		{"password-change", func(u *users.User) {
			err := users.ChangePassword(ctx, c.admin, u.ID, users.ChangePasswordOpts{OriginalPassword: u.Name + "-pw", Password: "new"}).ExtractErr()
			wantStatus(t, "change password", err, 0)
		}},
		{"user-disable", func(u *users.User) {
			off := false
			_, err := users.Update(ctx, c.admin, u.ID, users.UpdateOpts{Enabled: &off}).Extract()
			wantStatus(t, "disable user", err, 0)
		}},
		{"role-removal", func(u *users.User) {
			err := roles.Unassign(ctx, c.admin, c.roleID("member"), roles.UnassignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr()
			wantStatus(t, "unassign", err, 0)
		}},
		{"user-delete", func(u *users.User) {
			wantStatus(t, "delete user", users.Delete(ctx, c.admin, u.ID).ExtractErr(), 0)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := c.user("u-"+tc.name, d.ID)
			c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p.ID})
			client := c.loginProject(u, p.ID)
			tok := client.Token()
			wantStatus(t, "before", tokens.Get(ctx, c.admin, tok).Err, 0)
			tc.revoke(u)
			wantStatus(t, "after", tokens.Get(ctx, c.admin, tok).Err, http.StatusNotFound)
		})
	}
	t.Run("project-disable", func(t *testing.T) {
		p2 := c.project("p2", d.ID)
		u := c.user("u-pd", d.ID)
		c.grant("member", roles.AssignOpts{UserID: u.ID, ProjectID: p2.ID})
		tok := c.loginProject(u, p2.ID).Token()
		off := false
		_, err := projects.Update(ctx, c.admin, p2.ID, projects.UpdateOpts{Enabled: &off}).Extract()
		wantStatus(t, "disable project", err, 0)
		wantStatus(t, "after", tokens.Get(ctx, c.admin, tok).Err, http.StatusNotFound)
		_, err = c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "u-pd-pw", Scope: &gophercloud.AuthScope{ProjectID: p2.ID}})
		wantStatus(t, "login to disabled project", err, http.StatusUnauthorized)
	})
}

func TestLockout(t *testing.T) {
	srv := servertest.Start(t, func(cfg *server.Config) { cfg.Identity.LockoutAttempts = 3 })
	admin := srv.Admin(t)
	c := &cloud{Server: srv, admin: admin, t: t}
	u := c.user("dave", "default")
	for range 3 {
		_, err := c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "wrong"})
		wantStatus(t, "wrong password", err, http.StatusUnauthorized)
	}
	_, err := c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "dave-pw"})
	wantStatus(t, "locked user with right password", err, http.StatusUnauthorized)
	// An admin resets the password, which unlocks.
	_, err = users.Update(ctx, admin, u.ID, users.UpdateOpts{Password: "fresh"}).Extract()
	wantStatus(t, "reset", err, 0)
	_, err = c.TryLogin(gophercloud.AuthOptions{UserID: u.ID, Password: "fresh"})
	wantStatus(t, "after reset", err, 0)
}
