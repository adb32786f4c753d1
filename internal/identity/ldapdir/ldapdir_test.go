package ldapdir_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/sovcloud/sov/internal/identity/ldapdir"
	"github.com/sovcloud/sov/internal/servertest"
)

// TestDirectory: users and groups are read from a real slapd over
// StartTLS; passwords are checked by binding as the user; an empty
// password and a filter-injecting name get nowhere.
func TestDirectory(t *testing.T) {
	url, ca := servertest.Slapd(t, servertest.LDAPPeople)
	cfg := ldapdir.Config{URL: url, User: servertest.SlapdAdmin, Password: servertest.SlapdPassword, Suffix: servertest.SlapdSuffix,
		UseTLS: true, TLSCACert: ca}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	d := ldapdir.New(cfg)
	ctx := context.Background()
	users, groups, err := d.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].ID != "u1001" || users[0].Name != "ada" || users[0].Email != "ada@example.org" {
		t.Fatalf("users: %+v", users)
	}
	if len(groups) != 1 || groups[0].Name != "researchers" || !slices.Equal(groups[0].Members, []string{"u1001"}) {
		t.Fatalf("groups: %+v", groups)
	}
	if u, err := d.Authenticate(ctx, "ada", "ada-pw"); err != nil || u.ID != "u1001" {
		t.Fatalf("ada: %+v %v", u, err)
	}
	for _, c := range []struct{ name, pw string }{{"ada", "wrong"}, {"ada", ""}, {"*", "ada-pw"}, {"ada)(sn=*", "ada-pw"}, {"nobody", "x"}} {
		if _, err := d.Authenticate(ctx, c.name, c.pw); !errors.Is(err, ldapdir.ErrBadCredentials) {
			t.Errorf("%q/%q: %v, want ErrBadCredentials", c.name, c.pw, err)
		}
	}
	// Without the CA, StartTLS fails: nothing is sent in the clear.
	cfg.TLSCACert = ""
	if _, _, err := ldapdir.New(cfg).Snapshot(ctx); err == nil {
		t.Fatal("StartTLS to an untrusted certificate succeeded")
	}
}
