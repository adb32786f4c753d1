package identity_test

import (
	"net/http"
	"testing"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/groups"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"
)

// TestDomainManager checks scs-0302: a manager administers users, projects,
// groups and role assignments inside its own domain and nothing beyond it.
func TestDomainManager(t *testing.T) {
	c := newCloud(t)
	a, b := c.domain("scs-test-domain-a"), c.domain("scs-test-domain-b")
	mgrA := c.user("manager-a", a.ID)
	c.grant("manager", roles.AssignOpts{UserID: mgrA.ID, DomainID: a.ID})
	m := c.loginDomain(mgrA, a.ID)
	bProject := c.project("b-project", b.ID)
	bUser := c.user("b-user", b.ID)

	// Inside its domain: projects, users, groups, membership, member grants.
	p, err := projects.Create(ctx, m, projects.CreateOpts{Name: "a-project", DomainID: a.ID}).Extract()
	wantStatus(t, "create project in own domain", err, 0)
	u, err := users.Create(ctx, m, users.CreateOpts{Name: "a-user", DomainID: a.ID, Password: "a-user-pw"}).Extract()
	wantStatus(t, "create user in own domain", err, 0)
	g, err := groups.Create(ctx, m, groups.CreateOpts{Name: "a-group", DomainID: a.ID}).Extract()
	wantStatus(t, "create group in own domain", err, 0)
	wantStatus(t, "add to group", users.AddToGroup(ctx, m, g.ID, u.ID).ExtractErr(), 0)
	wantStatus(t, "grant member", roles.Assign(ctx, m, c.roleID("member"), roles.AssignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(), 0)
	// The new user can now work in the project.
	c.loginProject(u, p.ID)

	// Listing is confined to its domain.
	pages, err := projects.List(m, nil).AllPages(ctx)
	wantStatus(t, "list projects", err, 0)
	ps, _ := projects.ExtractProjects(pages)
	for _, x := range ps {
		if x.DomainID != a.ID {
			t.Errorf("manager of %s lists project %s of domain %s", a.ID, x.Name, x.DomainID)
		}
	}
	if len(ps) != 1 {
		t.Errorf("manager lists %d projects, want 1", len(ps))
	}
	_, err = projects.List(m, projects.ListOpts{DomainID: b.ID}).AllPages(ctx)
	wantStatus(t, "list projects of other domain", err, http.StatusForbidden)
	_, err = users.List(m, users.ListOpts{DomainID: b.ID}).AllPages(ctx)
	wantStatus(t, "list users of other domain", err, http.StatusForbidden)

	// Never beyond it.
	_, err = projects.Create(ctx, m, projects.CreateOpts{Name: "x", DomainID: b.ID}).Extract()
	wantStatus(t, "create project in other domain", err, http.StatusForbidden)
	_, err = users.Create(ctx, m, users.CreateOpts{Name: "x", DomainID: b.ID}).Extract()
	wantStatus(t, "create user in other domain", err, http.StatusForbidden)
	_, err = projects.Get(ctx, m, bProject.ID).Extract()
	wantStatus(t, "get other domain's project", err, http.StatusForbidden)
	wantStatus(t, "delete other domain's user", users.Delete(ctx, m, bUser.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "grant on other domain's project", roles.Assign(ctx, m, c.roleID("member"), roles.AssignOpts{UserID: u.ID, ProjectID: bProject.ID}).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "grant to other domain's user", roles.Assign(ctx, m, c.roleID("member"), roles.AssignOpts{UserID: bUser.ID, ProjectID: p.ID}).ExtractErr(), http.StatusForbidden)
	// Never admin or manager, not even inside its domain.
	for _, role := range []string{"admin", "manager"} {
		wantStatus(t, "grant "+role, roles.Assign(ctx, m, c.roleID(role), roles.AssignOpts{UserID: u.ID, ProjectID: p.ID}).ExtractErr(), http.StatusForbidden)
		wantStatus(t, "grant "+role+" on domain", roles.Assign(ctx, m, c.roleID(role), roles.AssignOpts{UserID: u.ID, DomainID: a.ID}).ExtractErr(), http.StatusForbidden)
	}
	// No role or domain administration.
	_, err = roles.Create(ctx, m, roles.CreateOpts{Name: "evil"}).Extract()
	wantStatus(t, "create role", err, http.StatusForbidden)
	_, err = domains.Create(ctx, m, domains.CreateOpts{Name: "evil"}).Extract()
	wantStatus(t, "create domain", err, http.StatusForbidden)

	// Nothing in domain b changed.
	pages, _ = projects.List(c.admin, projects.ListOpts{DomainID: b.ID}).AllPages(ctx)
	if ps, _ := projects.ExtractProjects(pages); len(ps) != 1 {
		t.Errorf("domain b has %d projects, want 1", len(ps))
	}
}

// TestProjectIsolation checks that a member of one project sees nothing of another.
func TestProjectIsolation(t *testing.T) {
	c := newCloud(t)
	d := c.domain("iso")
	pa, pb := c.project("pa", d.ID), c.project("pb", d.ID)
	ua, ub := c.user("ua", d.ID), c.user("ub", d.ID)
	c.grant("member", roles.AssignOpts{UserID: ua.ID, ProjectID: pa.ID})
	c.grant("member", roles.AssignOpts{UserID: ub.ID, ProjectID: pb.ID})
	ma := c.loginProject(ua, pa.ID)

	_, err := projects.Get(ctx, ma, pa.ID).Extract()
	wantStatus(t, "own project", err, 0)
	_, err = projects.Get(ctx, ma, pb.ID).Extract()
	wantStatus(t, "other project", err, http.StatusForbidden)
	_, err = projects.Get(ctx, ma, "0123456789abcdef0123456789abcdef").Extract()
	wantStatus(t, "unknown project looks like another project", err, http.StatusForbidden)
	_, err = projects.Update(ctx, ma, pb.ID, projects.UpdateOpts{Name: "stolen"}).Extract()
	wantStatus(t, "rename other project", err, http.StatusForbidden)
	wantStatus(t, "delete other project", projects.Delete(ctx, ma, pb.ID).ExtractErr(), http.StatusForbidden)
	_, err = users.Get(ctx, ma, ub.ID).Extract()
	wantStatus(t, "get other user", err, http.StatusForbidden)
	_, err = users.Get(ctx, ma, ua.ID).Extract()
	wantStatus(t, "get self", err, 0)
	_, err = projects.List(ma, nil).AllPages(ctx)
	wantStatus(t, "member lists all projects", err, http.StatusForbidden)
	wantStatus(t, "member grants", roles.Assign(ctx, ma, c.roleID("member"), roles.AssignOpts{UserID: ua.ID, ProjectID: pb.ID}).ExtractErr(), http.StatusForbidden)

	// Own projects are listed through /v3/users/{id}/projects and /v3/auth/projects.
	pages, err := users.ListProjects(ma, ua.ID).AllPages(ctx)
	wantStatus(t, "list own projects", err, 0)
	ps, _ := projects.ExtractProjects(pages)
	if len(ps) != 1 || ps[0].ID != pa.ID {
		t.Errorf("own projects = %+v, want only %s", ps, pa.ID)
	}
	pages, err = projects.ListAvailable(ma).AllPages(ctx)
	wantStatus(t, "auth/projects", err, 0)
	ps, _ = projects.ExtractProjects(pages)
	if len(ps) != 1 || ps[0].ID != pa.ID {
		t.Errorf("auth/projects = %+v, want only %s", ps, pa.ID)
	}
	_, err = users.ListProjects(ma, ub.ID).AllPages(ctx)
	wantStatus(t, "list other user's projects", err, http.StatusForbidden)
	// pb is untouched.
	p, err := projects.Get(ctx, c.admin, pb.ID).Extract()
	if err != nil || p.Name != "pb" {
		t.Errorf("pb after attacks = %+v, %v", p, err)
	}
}

func TestGroupsGiveRoles(t *testing.T) {
	c := newCloud(t)
	d := c.domain("grp")
	p := c.project("p", d.ID)
	u := c.user("gina", d.ID)
	g, err := groups.Create(ctx, c.admin, groups.CreateOpts{Name: "devs", DomainID: d.ID}).Extract()
	wantStatus(t, "create group", err, 0)
	c.grant("member", roles.AssignOpts{GroupID: g.ID, ProjectID: p.ID})
	_, err = c.TryLogin(gophercloudPassword(u, p.ID))
	wantStatus(t, "login before membership", err, http.StatusUnauthorized)
	wantStatus(t, "add", users.AddToGroup(ctx, c.admin, g.ID, u.ID).ExtractErr(), 0)
	ok, err := users.IsMemberOfGroup(ctx, c.admin, g.ID, u.ID).Extract()
	if !ok || err != nil {
		t.Fatalf("IsMemberOfGroup = %v, %v", ok, err)
	}
	client := c.loginProject(u, p.ID)

	// Effective assignments show the user, through the group.
	pages, err := roles.ListAssignments(c.admin, roles.ListAssignmentsOpts{UserID: u.ID, Effective: ptr(true)}).AllPages(ctx)
	wantStatus(t, "effective assignments", err, 0)
	as, _ := roles.ExtractRoleAssignments(pages)
	if len(as) != 1 || as[0].Scope.Project.ID != p.ID || as[0].User.ID != u.ID {
		t.Fatalf("effective assignments = %+v", as)
	}
	pages, _ = roles.ListAssignments(c.admin, roles.ListAssignmentsOpts{UserID: u.ID}).AllPages(ctx)
	if as, _ := roles.ExtractRoleAssignments(pages); len(as) != 0 {
		t.Errorf("direct assignments of %s = %+v, want none", u.ID, as)
	}

	// Leaving the group revokes the token and the access.
	wantStatus(t, "remove", users.RemoveFromGroup(ctx, c.admin, g.ID, u.ID).ExtractErr(), 0)
	_, err = users.Get(ctx, client, u.ID).Extract()
	wantStatus(t, "token after leaving group", err, http.StatusUnauthorized)
	_, err = c.TryLogin(gophercloudPassword(u, p.ID))
	wantStatus(t, "login after leaving group", err, http.StatusUnauthorized)
}

func ptr[T any](v T) *T { return &v }

// TestAssignmentAndGroupIsolation checks what managers and members see of
// role assignments and groups outside their reach.
func TestAssignmentAndGroupIsolation(t *testing.T) {
	c := newCloud(t)
	a, b := c.domain("a"), c.domain("b")
	mgrA := c.user("mgr-a", a.ID)
	c.grant("manager", roles.AssignOpts{UserID: mgrA.ID, DomainID: a.ID})
	pa, pb := c.project("pa", a.ID), c.project("pb", b.ID)
	ua, ub := c.user("ua", a.ID), c.user("ub", b.ID)
	c.grant("member", roles.AssignOpts{UserID: ua.ID, ProjectID: pa.ID})
	c.grant("member", roles.AssignOpts{UserID: ub.ID, ProjectID: pb.ID})
	gb, err := groups.Create(ctx, c.admin, groups.CreateOpts{Name: "gb", DomainID: b.ID}).Extract()
	wantStatus(t, "create group b", err, 0)

	// The manager of a sees only assignments inside a.
	m := c.loginDomain(mgrA, a.ID)
	pages, err := roles.ListAssignments(m, roles.ListAssignmentsOpts{}).AllPages(ctx)
	wantStatus(t, "manager lists assignments", err, 0)
	as, _ := roles.ExtractRoleAssignments(pages)
	if len(as) != 2 {
		t.Errorf("manager of a sees %d assignments, want 2 (its own and ua's): %+v", len(as), as)
	}
	for _, x := range as {
		if x.Scope.Project.ID == pb.ID || x.User.ID == ub.ID {
			t.Errorf("manager of a sees assignment in b: %+v", x)
		}
	}
	// Nor can it touch b's groups.
	_, err = groups.Get(ctx, m, gb.ID).Extract()
	wantStatus(t, "get group of b", err, http.StatusForbidden)
	_, err = groups.Update(ctx, m, gb.ID, groups.UpdateOpts{Name: "mine"}).Extract()
	wantStatus(t, "rename group of b", err, http.StatusForbidden)
	wantStatus(t, "add own user to group of b", users.AddToGroup(ctx, m, gb.ID, ua.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "delete group of b", groups.Delete(ctx, m, gb.ID).ExtractErr(), http.StatusForbidden)

	// A member sees only its own assignments, and only when it asks for them.
	mem := c.loginProject(ua, pa.ID)
	_, err = roles.ListAssignments(mem, roles.ListAssignmentsOpts{}).AllPages(ctx)
	wantStatus(t, "member lists all assignments", err, http.StatusForbidden)
	pages, err = roles.ListAssignments(mem, roles.ListAssignmentsOpts{UserID: ua.ID}).AllPages(ctx)
	wantStatus(t, "member lists own assignments", err, 0)
	if as, _ := roles.ExtractRoleAssignments(pages); len(as) != 1 || as[0].Scope.Project.ID != pa.ID {
		t.Errorf("member's own assignments = %+v", as)
	}
	_, err = roles.ListAssignments(mem, roles.ListAssignmentsOpts{UserID: ub.ID}).AllPages(ctx)
	wantStatus(t, "member lists another user's assignments", err, http.StatusForbidden)
	_, err = groups.List(mem, nil).AllPages(ctx)
	wantStatus(t, "member lists groups", err, http.StatusForbidden)

	// Group b is unchanged.
	g, err := groups.Get(ctx, c.admin, gb.ID).Extract()
	if err != nil || g.Name != "gb" {
		t.Errorf("group b = %+v, %v", g, err)
	}
}

// TestDomainManagerCannotBorrowPower: a domain manager may change only the
// users and groups of its domain whose every role it could grant itself.
// Resetting the password of a user of its domain who is admin elsewhere (or
// through a group), or joining a group that holds admin, would make it admin.
func TestDomainManagerCannotBorrowPower(t *testing.T) {
	c := newCloud(t)
	a, b := c.domain("power-a"), c.domain("power-b")
	mgr := c.user("mgr", a.ID)
	c.grant("manager", roles.AssignOpts{UserID: mgr.ID, DomainID: a.ID})
	m := c.loginDomain(mgr, a.ID)
	aProject, bProject := c.project("a-proj", a.ID), c.project("b-proj", b.ID)
	pages, _ := projects.List(c.admin, projects.ListOpts{Name: "admin"}).AllPages(ctx)
	adminProject, _ := projects.ExtractProjects(pages)

	plain := c.user("plain", a.ID)
	c.grant("member", roles.AssignOpts{UserID: plain.ID, ProjectID: aProject.ID})
	elsewhere := c.user("elsewhere", a.ID)
	c.grant("member", roles.AssignOpts{UserID: elsewhere.ID, ProjectID: bProject.ID})
	cloudAdmin := c.user("cloud-admin", a.ID)
	c.grant("admin", roles.AssignOpts{UserID: cloudAdmin.ID, ProjectID: adminProject[0].ID})
	viaGroup := c.user("via-group", a.ID)
	admins, err := groups.Create(ctx, c.admin, groups.CreateOpts{Name: "admins", DomainID: a.ID}).Extract()
	wantStatus(t, "create admin group", err, 0)
	c.grant("admin", roles.AssignOpts{GroupID: admins.ID, ProjectID: adminProject[0].ID})
	wantStatus(t, "admin adds to group", users.AddToGroup(ctx, c.admin, admins.ID, viaGroup.ID).ExtractErr(), 0)
	team, err := groups.Create(ctx, m, groups.CreateOpts{Name: "team", DomainID: a.ID}).Extract()
	wantStatus(t, "create team", err, 0)
	wantStatus(t, "grant team member", roles.Assign(ctx, m, c.roleID("member"), roles.AssignOpts{GroupID: team.ID, ProjectID: aProject.ID}).ExtractErr(), 0)

	reset := func(u *users.User) error {
		_, err := users.Update(ctx, m, u.ID, users.UpdateOpts{Password: "taken-over"}).Extract()
		return err
	}
	wantStatus(t, "reset a plain member", reset(plain), 0)
	wantStatus(t, "reset a member of another domain's project", reset(elsewhere), http.StatusForbidden)
	wantStatus(t, "reset a cloud admin", reset(cloudAdmin), http.StatusForbidden)
	wantStatus(t, "reset an admin through a group", reset(viaGroup), http.StatusForbidden)
	wantStatus(t, "disable a cloud admin", func() error {
		f := false
		_, err := users.Update(ctx, m, cloudAdmin.ID, users.UpdateOpts{Enabled: &f}).Extract()
		return err
	}(), http.StatusForbidden)
	wantStatus(t, "delete a cloud admin", users.Delete(ctx, m, cloudAdmin.ID).ExtractErr(), http.StatusForbidden)
	// The admins keep their passwords.
	c.loginProject(cloudAdmin, adminProject[0].ID)
	c.loginProject(viaGroup, adminProject[0].ID)

	wantStatus(t, "join the admin group", users.AddToGroup(ctx, m, admins.ID, mgr.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "put a member into the admin group", users.AddToGroup(ctx, m, admins.ID, plain.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "join its own team", users.AddToGroup(ctx, m, team.ID, mgr.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "put a member into the team", users.AddToGroup(ctx, m, team.ID, plain.ID).ExtractErr(), 0)
	_, err = groups.Update(ctx, m, admins.ID, groups.UpdateOpts{Name: "renamed"}).Extract()
	wantStatus(t, "rename the admin group", err, http.StatusForbidden)
	wantStatus(t, "delete the admin group", groups.Delete(ctx, m, admins.ID).ExtractErr(), http.StatusForbidden)
	if _, err := c.TryLogin(gophercloudPassword(mgr, adminProject[0].ID)); err == nil {
		t.Error("the manager can log in to the admin project")
	}
}
