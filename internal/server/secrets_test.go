package server_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
	"github.com/sovcloud/sov/internal/store"
)

// sealedValues returns every secret the identity tables hold at rest.
func sealedValues(t *testing.T, db *store.DB) []string {
	t.Helper()
	var out []string
	for _, q := range []string{`SELECT secret FROM signing_keys`, `SELECT sealed_blob FROM credentials`} {
		rows, err := db.Query(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var v string
			rows.Scan(&v)
			out = append(out, v)
		}
		rows.Close()
	}
	return out
}

func masterKeyIDs(t *testing.T, dir string) (primary string, ids []string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Primary string
		Keys    map[string]string
	}
	json.Unmarshal(b, &f)
	for id := range f.Keys {
		ids = append(ids, id)
	}
	return f.Primary, ids
}

// TestSecretsAtRest: signing keys and EC2 blobs are sealed under the
// master key, which rotates on request (old tokens and keys keep working);
// the data dir and database are sov's alone, also when left open; tokens
// longer-lived than the configured lifetime are refused.
func TestSecretsAtRest(t *testing.T) {
	srv := servertest.Start(t, nil)
	tn := srv.NewTenant(t, "alpha", "")
	token := srv.Admin(t).Token()
	primary, ids := masterKeyIDs(t, srv.DataDir())
	if len(ids) != 1 || ids[0] != primary {
		t.Fatalf("master keys = %v (primary %s)", ids, primary)
	}
	values := sealedValues(t, srv.Store(t))
	if len(values) < 2 {
		t.Fatalf("sealed values = %v", values)
	}
	for _, v := range values {
		if !strings.HasPrefix(v, "sov1:"+primary+":") || strings.Contains(v, tn.Secret) {
			t.Errorf("a secret at rest is not sealed under the master key: %.40s", v)
		}
	}

	// Left open by an operator: tightened at the next start, while the
	// master key rotates.
	os.Chmod(srv.DataDir(), 0o755)
	os.Chmod(filepath.Join(srv.DataDir(), "master.key"), 0o644)
	if _, err := os.Stat(filepath.Join(srv.DataDir(), "sov.db")); err == nil {
		os.Chmod(filepath.Join(srv.DataDir(), "sov.db"), 0o644)
	}
	srv = srv.RestartWith(t, func(cfg *server.Config) { cfg.RotateMasterKey = true })
	for _, name := range []string{".", "sov.db", "master.key", "images"} {
		fi, err := os.Stat(filepath.Join(srv.DataDir(), name))
		if os.IsNotExist(err) && name == "sov.db" {
			continue // PostgreSQL
		}
		if err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: mode %v, %v; want no access for group and others", name, fi.Mode().Perm(), err)
		}
	}
	rotated, ids := masterKeyIDs(t, srv.DataDir())
	if rotated == primary || len(ids) != 1 {
		t.Errorf("after rotation the master keys are %v (primary %s, was %s)", ids, rotated, primary)
	}
	for _, v := range sealedValues(t, srv.Store(t)) {
		if !strings.HasPrefix(v, "sov1:"+rotated+":") {
			t.Errorf("a secret is not resealed under the new master key: %.40s", v)
		}
	}
	if err := tokens.Get(context.Background(), srv.Admin(t), token).Err; err != nil {
		t.Errorf("a token from before the rotation: %v", err)
	}
	if cred, err := srv.Identity().LookupEC2(context.Background(), tn.Access); err != nil || cred.Secret != tn.Secret {
		t.Errorf("EC2 credential after the rotation: %v", err)
	}

	// A lower token lifetime refuses tokens issued for longer.
	srv = srv.RestartWith(t, func(cfg *server.Config) { cfg.Identity.TokenLifetime = 30 * time.Minute })
	servertest.WantStatus(t, "an hour-long token under a 30 minute maximum", tokens.Get(context.Background(), srv.Admin(t), token).Err, 404)
}
