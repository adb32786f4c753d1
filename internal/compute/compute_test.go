package compute_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/keypairs"
	"golang.org/x/crypto/ssh"

	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

func computeClient(t testing.TB, p *gophercloud.ProviderClient, microversion string) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewComputeV2(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatalf("compute endpoint from the catalog: %v", err)
	}
	c.Microversion = microversion
	return c
}

// wantStatus checks the HTTP status of a gophercloud error.
var wantStatus = servertest.WantStatus

// TestStandardFlavors checks the SCS mandatory flavors (scs-0103) with
// their exact values and scs: extra specs, as the SCS test does.
func TestStandardFlavors(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	c := computeClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")), "2.61")
	pages, err := flavors.ListDetail(c, nil).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	all, _ := flavors.ExtractFlavors(pages)
	byName := map[string]flavors.Flavor{}
	for _, f := range all {
		byName[f.Name] = f
	}
	mandatory := []struct {
		name            string
		vcpus, ram, dsk int
		cpu, disk, v1   string
	}{
		{"SCS-1V-4", 1, 4096, 0, "shared-core", "", "SCS-1V:4"}, {"SCS-2V-8", 2, 8192, 0, "shared-core", "", "SCS-2V:8"},
		{"SCS-4V-16", 4, 16384, 0, "shared-core", "", "SCS-4V:16"}, {"SCS-8V-32", 8, 32768, 0, "shared-core", "", "SCS-8V:32"},
		{"SCS-1V-2", 1, 2048, 0, "shared-core", "", "SCS-1V:2"}, {"SCS-2V-4", 2, 4096, 0, "shared-core", "", "SCS-2V:4"},
		{"SCS-4V-8", 4, 8192, 0, "shared-core", "", "SCS-4V:8"}, {"SCS-8V-16", 8, 16384, 0, "shared-core", "", "SCS-8V:16"},
		{"SCS-16V-32", 16, 32768, 0, "shared-core", "", "SCS-16V:32"}, {"SCS-1V-8", 1, 8192, 0, "shared-core", "", "SCS-1V:8"},
		{"SCS-2V-16", 2, 16384, 0, "shared-core", "", "SCS-2V:16"}, {"SCS-4V-32", 4, 32768, 0, "shared-core", "", "SCS-4V:32"},
		{"SCS-1L-1", 1, 1024, 0, "crowded-core", "", "SCS-1L:1"},
		{"SCS-2V-4-20s", 2, 4096, 20, "shared-core", "ssd", "SCS-2V:4:20s"}, {"SCS-4V-16-100s", 4, 16384, 100, "shared-core", "ssd", "SCS-4V:16:100s"},
	}
	for _, m := range mandatory {
		f, ok := byName[m.name]
		if !ok {
			t.Errorf("mandatory flavor %s missing", m.name)
			continue
		}
		if f.VCPUs != m.vcpus || f.RAM != m.ram || f.Disk != m.dsk || !f.IsPublic {
			t.Errorf("%s = %d vcpus %d MiB %d GB public=%v", m.name, f.VCPUs, f.RAM, f.Disk, f.IsPublic)
		}
		es := f.ExtraSpecs
		if es["scs:name-v2"] != m.name || es["scs:name-v1"] != m.v1 || es["scs:cpu-type"] != m.cpu || es["scs:disk0-type"] != m.disk {
			t.Errorf("%s extra specs = %v", m.name, es)
		}
	}
	if f := byName["SCS-1V-4-10"]; f.ExtraSpecs["scs:disk0-type"] != "network" {
		t.Errorf("recommended SCS-1V-4-10 = %+v", f)
	}
	// Before 2.61 the extra specs are not inline, but readable.
	old := computeClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "member")), "")
	f, err := flavors.Get(ctx, old, byName["SCS-2V-4"].ID).Extract()
	wantStatus(t, "get", err, 0)
	if f.ExtraSpecs != nil {
		t.Errorf("extra specs inline before 2.61: %v", f.ExtraSpecs)
	}
	specs, err := flavors.ListExtraSpecs(ctx, old, f.ID).Extract()
	if err != nil || specs["scs:name-v2"] != "SCS-2V-4" {
		t.Errorf("os-extra_specs = %v, %v", specs, err)
	}
}

func TestFlavorAdministration(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	admin := computeClient(t, srv.Admin(t).ProviderClient, "2.61")
	member := computeClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")), "2.61")
	disk := 1
	_, err := flavors.Create(ctx, member, flavors.CreateOpts{Name: "evil", RAM: 1, VCPUs: 1, Disk: &disk}).Extract()
	wantStatus(t, "member creates a flavor", err, http.StatusForbidden)
	private := false
	f, err := flavors.Create(ctx, admin, flavors.CreateOpts{Name: "tiny", RAM: 256, VCPUs: 1, Disk: &disk, IsPublic: &private}).Extract()
	wantStatus(t, "admin creates a flavor", err, 0)
	_, err = flavors.Create(ctx, admin, flavors.CreateOpts{Name: "tiny", RAM: 256, VCPUs: 1, Disk: &disk}).Extract()
	wantStatus(t, "duplicate name", err, http.StatusConflict)
	_, err = flavors.Create(ctx, admin, flavors.CreateOpts{Name: "zero", RAM: 0, VCPUs: 1, Disk: &disk}).Extract()
	wantStatus(t, "zero ram", err, http.StatusBadRequest)
	_, err = flavors.CreateExtraSpecs(ctx, admin, f.ID, flavors.ExtraSpecsOpts{"hw_rng:allowed": "true"}).Extract()
	wantStatus(t, "set extra specs", err, 0)
	_, err = flavors.CreateExtraSpecs(ctx, member, f.ID, flavors.ExtraSpecsOpts{"x": "y"}).Extract()
	wantStatus(t, "member sets extra specs", err, http.StatusForbidden)
	got, _ := flavors.Get(ctx, admin, f.ID).Extract()
	if got.ExtraSpecs["hw_rng:allowed"] != "true" {
		t.Errorf("extra specs = %v", got.ExtraSpecs)
	}
	// A private flavor is not listed for members.
	pages, _ := flavors.ListDetail(member, nil).AllPages(ctx)
	fs, _ := flavors.ExtractFlavors(pages)
	for _, x := range fs {
		if x.ID == f.ID {
			t.Error("a private flavor is listed for a member")
		}
	}
	wantStatus(t, "member deletes", flavors.Delete(ctx, member, f.ID).ExtractErr(), http.StatusForbidden)
	wantStatus(t, "admin deletes", flavors.Delete(ctx, admin, f.ID).ExtractErr(), 0)
	_, err = flavors.Get(ctx, admin, f.ID).Extract()
	wantStatus(t, "get deleted", err, http.StatusNotFound)
	bad := computeClient(t, srv.Admin(t).ProviderClient, "2.999")
	_, err = flavors.Get(ctx, bad, "x").Extract()
	wantStatus(t, "unsupported microversion", err, http.StatusNotAcceptable)
}

func TestKeypairs(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, nil)
	alpha := srv.NewTenant(t, "alpha", "")
	a := computeClient(t, srv.Provider(t, alpha), "2.10")
	b := computeClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "member")), "2.10")

	gen, err := keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "generated"}).Extract()
	wantStatus(t, "generate", err, 0)
	if !strings.Contains(gen.PrivateKey, "PRIVATE KEY") || gen.Fingerprint == "" || gen.UserID != alpha.UserID {
		t.Fatalf("generated = %+v", gen)
	}
	signer, err := ssh.ParsePrivateKey([]byte(gen.PrivateKey))
	if err != nil || ssh.FingerprintLegacyMD5(signer.PublicKey()) != gen.Fingerprint {
		t.Errorf("the private key does not match the fingerprint: %v", err)
	}
	imported, err := keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "imported", PublicKey: strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey())))}).Extract()
	wantStatus(t, "import", err, 0)
	if imported.PrivateKey != "" || imported.Fingerprint != gen.Fingerprint {
		t.Errorf("imported = %+v", imported)
	}
	_, err = keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "imported", PublicKey: imported.PublicKey}).Extract()
	wantStatus(t, "duplicate", err, http.StatusConflict)
	_, err = keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "bad", PublicKey: "ssh-rsa garbage"}).Extract()
	wantStatus(t, "bad key", err, http.StatusBadRequest)
	_, err = keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "bad/name", PublicKey: imported.PublicKey}).Extract()
	wantStatus(t, "bad name", err, http.StatusBadRequest)
	latest := computeClient(t, srv.Provider(t, alpha), "2.92")
	_, err = keypairs.Create(ctx, latest, keypairs.CreateOpts{Name: "gen2"}).Extract()
	wantStatus(t, "generate at 2.92", err, http.StatusBadRequest)

	pages, err := keypairs.List(a, nil).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	if ks, _ := keypairs.ExtractKeyPairs(pages); len(ks) != 2 {
		t.Errorf("list = %+v", ks)
	}
	// Keypairs belong to users: another user of the same project sees none.
	pages, _ = keypairs.List(b, nil).AllPages(ctx)
	if ks, _ := keypairs.ExtractKeyPairs(pages); len(ks) != 0 {
		t.Errorf("other user lists %+v", ks)
	}
	_, err = keypairs.Get(ctx, b, "generated", nil).Extract()
	wantStatus(t, "other user gets", err, http.StatusNotFound)
	wantStatus(t, "other user deletes", keypairs.Delete(ctx, b, "generated", nil).ExtractErr(), http.StatusNotFound)
	wantStatus(t, "delete", keypairs.Delete(ctx, a, "generated", nil).ExtractErr(), 0)
	_, err = keypairs.Get(ctx, a, "generated", nil).Extract()
	wantStatus(t, "get deleted", err, http.StatusNotFound)

	// The key pair quota shown in the limits (100 per user) holds.
	for i := 1; i < 100; i++ {
		_, err = keypairs.Create(ctx, a, keypairs.CreateOpts{Name: fmt.Sprintf("k%03d", i), PublicKey: imported.PublicKey}).Extract()
		wantStatus(t, "fill the quota", err, 0)
	}
	_, err = keypairs.Create(ctx, a, keypairs.CreateOpts{Name: "one-too-many", PublicKey: imported.PublicKey}).Extract()
	wantStatus(t, "over the quota", err, http.StatusForbidden)
	_, err = keypairs.Create(ctx, b, keypairs.CreateOpts{Name: "other-user", PublicKey: imported.PublicKey}).Extract()
	wantStatus(t, "another user's quota", err, 0)
}
