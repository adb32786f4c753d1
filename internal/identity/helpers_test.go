package identity_test

import (
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/domains"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/roles"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/users"

	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

// cloud is a test server with an admin client and helpers to populate it.
type cloud struct {
	*servertest.Server
	admin *gophercloud.ServiceClient
	t     *testing.T
}

func newCloud(t *testing.T) *cloud {
	t.Helper()
	srv := servertest.Start(t, nil)
	return &cloud{Server: srv, admin: srv.Admin(t), t: t}
}

func (c *cloud) domain(name string) *domains.Domain {
	c.t.Helper()
	enabled := true
	d, err := domains.Create(ctx, c.admin, domains.CreateOpts{Name: name, Enabled: &enabled}).Extract()
	if err != nil {
		c.t.Fatalf("create domain %s: %v", name, err)
	}
	return d
}

func (c *cloud) project(name, domainID string) *projects.Project {
	c.t.Helper()
	p, err := projects.Create(ctx, c.admin, projects.CreateOpts{Name: name, DomainID: domainID}).Extract()
	if err != nil {
		c.t.Fatalf("create project %s: %v", name, err)
	}
	return p
}

func (c *cloud) user(name, domainID string) *users.User {
	c.t.Helper()
	u, err := users.Create(ctx, c.admin, users.CreateOpts{Name: name, DomainID: domainID, Password: name + "-pw"}).Extract()
	if err != nil {
		c.t.Fatalf("create user %s: %v", name, err)
	}
	return u
}

func (c *cloud) roleID(name string) string {
	c.t.Helper()
	pages, err := roles.List(c.admin, roles.ListOpts{Name: name}).AllPages(ctx)
	if err != nil {
		c.t.Fatal(err)
	}
	rs, err := roles.ExtractRoles(pages)
	if err != nil || len(rs) != 1 {
		c.t.Fatalf("role %s: %v %v", name, rs, err)
	}
	return rs[0].ID
}

func (c *cloud) grant(role string, opts roles.AssignOpts) {
	c.t.Helper()
	if err := roles.Assign(ctx, c.admin, c.roleID(role), opts).ExtractErr(); err != nil {
		c.t.Fatalf("assign %s: %v", role, err)
	}
}

// loginProject logs in as a user created by c.user, scoped to a project.
func (c *cloud) loginProject(u *users.User, projectID string) *gophercloud.ServiceClient {
	c.t.Helper()
	return c.Login(c.t, gophercloud.AuthOptions{UserID: u.ID, Password: u.Name + "-pw", Scope: &gophercloud.AuthScope{ProjectID: projectID}})
}

// loginDomain logs in as a user created by c.user, scoped to a domain.
func (c *cloud) loginDomain(u *users.User, domainID string) *gophercloud.ServiceClient {
	c.t.Helper()
	return c.Login(c.t, gophercloud.AuthOptions{UserID: u.ID, Password: u.Name + "-pw", Scope: &gophercloud.AuthScope{DomainID: domainID}})
}

// wantStatus checks the HTTP status of a gophercloud error.
var wantStatus = servertest.WantStatus

func gophercloudPassword(u *users.User, projectID string) gophercloud.AuthOptions {
	return gophercloud.AuthOptions{UserID: u.ID, Password: u.Name + "-pw", Scope: &gophercloud.AuthScope{ProjectID: projectID}}
}
