package keymanager_test

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/containers"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/orders"
	"github.com/gophercloud/gophercloud/v2/openstack/keymanager/v1/secrets"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

var ctx = context.Background()

func keyClient(t *testing.T, p *gophercloud.ProviderClient) *gophercloud.ServiceClient {
	t.Helper()
	c, err := openstack.NewKeyManagerV1(p, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func id(ref string) string { return ref[strings.LastIndex(ref, "/")+1:] }

func wantStatus(t *testing.T, what string, err error, status int) {
	t.Helper()
	servertest.WantStatus(t, what, err, status)
}

// raw sends a request with a body as is and returns the status and the body.
func raw(t *testing.T, c *gophercloud.ServiceClient, method, path, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, c.ResourceBase+path, strings.NewReader(body))
	req.Header.Set("X-Auth-Token", c.TokenID)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestSecrets stores, reads, lists and deletes secrets as gophercloud
// does: a text secret in one request, a binary one base64-encoded, one
// whose payload comes by PUT; bad input changes nothing; the payload is
// sealed in the store; another project and a reader see none of it.
func TestSecrets(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	alpha := srv.NewTenant(t, "alpha", "")
	a := keyClient(t, srv.Provider(t, alpha))
	b := keyClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")))
	reader := keyClient(t, srv.Provider(t, srv.NewTenantUser(t, "alpha", "reader")))

	// scs-0116's own request, as a member.
	r, err := secrets.Create(ctx, a, secrets.CreateOpts{Name: "scs-member-role-test-secret", SecretType: secrets.OpaqueSecret,
		PayloadContentType: "text/plain", Payload: "foo"}).Extract()
	wantStatus(t, "create", err, 0)
	text := id(r.SecretRef)
	if !strings.HasPrefix(r.SecretRef, a.ResourceBase+"secrets/") {
		t.Errorf("secret_ref %s", r.SecretRef)
	}
	got, err := secrets.Get(ctx, a, text).Extract()
	wantStatus(t, "get", err, 0)
	if got.Name != "scs-member-role-test-secret" || got.SecretType != "opaque" || got.Status != "ACTIVE" || got.ContentTypes["default"] != "text/plain" || got.Created.IsZero() {
		t.Errorf("secret %+v", got)
	}
	payload, err := secrets.GetPayload(ctx, a, text, nil).Extract()
	if err != nil || string(payload) != "foo" {
		t.Errorf("payload %q, %v", payload, err)
	}
	if payload, err := secrets.GetPayload(ctx, a, text, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract(); err != nil || string(payload) != "foo" {
		t.Errorf("payload as octet-stream %q, %v", payload, err)
	}
	_, err = secrets.GetPayload(ctx, a, text, secrets.GetPayloadOpts{PayloadContentType: "text/html"}).Extract()
	wantStatus(t, "payload as text/html", err, 406)

	// Binary, base64 in the body.
	key := bytes.Repeat([]byte{0, 1, 2, 0xff}, 8)
	r, err = secrets.Create(ctx, a, secrets.CreateOpts{Name: "key", SecretType: secrets.SymmetricSecret, Algorithm: "aes", BitLength: 256, Mode: "cbc",
		PayloadContentType: "application/octet-stream", PayloadContentEncoding: "base64", Payload: base64.StdEncoding.EncodeToString(key)}).Extract()
	wantStatus(t, "create binary", err, 0)
	binary := id(r.SecretRef)
	payload, err = secrets.GetPayload(ctx, a, binary, secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil || !bytes.Equal(payload, key) {
		t.Errorf("binary payload %x, %v", payload, err)
	}
	_, err = secrets.GetPayload(ctx, a, binary, nil).Extract()
	wantStatus(t, "a binary payload as text", err, 406)

	// Two steps: the payload comes later, once.
	r, err = secrets.Create(ctx, a, secrets.CreateOpts{Name: "later"}).Extract()
	wantStatus(t, "create without payload", err, 0)
	later := id(r.SecretRef)
	_, err = secrets.GetPayload(ctx, a, later, nil).Extract()
	wantStatus(t, "payload before it is there", err, 404)
	wantStatus(t, "put payload", secrets.Update(ctx, a, later, secrets.UpdateOpts{ContentType: "text/plain", Payload: "now"}).Err, 0)
	wantStatus(t, "put payload again", secrets.Update(ctx, a, later, secrets.UpdateOpts{ContentType: "text/plain", Payload: "again"}).Err, 409)
	if payload, _ := secrets.GetPayload(ctx, a, later, nil).Extract(); string(payload) != "now" {
		t.Errorf("the payload put is %q", payload)
	}

	// Bad input: Barbican's errors, nothing stored.
	for _, c := range []struct{ body, contentType string }{
		{`{"name": "x", "payload": "p"}`, "application/json"},
		{`{"payload": "p", "payload_content_type": "application/octet-stream"}`, "application/json"},
		{`{"payload": "!!", "payload_content_type": "application/octet-stream", "payload_content_encoding": "base64"}`, "application/json"},
		{`{"payload": "p", "payload_content_type": "text/html"}`, "application/json"},
		{`{"payload": "", "payload_content_type": "text/plain"}`, "application/json"},
		{`{"secret_type": "magic"}`, "application/json"},
		{`{"expiration": "2001-01-01T00:00:00Z"}`, "application/json"},
		{`{"expiration": "tomorrow"}`, "application/json"},
		{`{"bit_length": "long"}`, "application/json"},
		{`{"name": `, "application/json"},
		{`{"payload": "p", "payload_content_type": "text/plain", "payload_content_encoding": "base64"}`, "application/json"},
		{`{"payload_content_type": "text/plain"}`, "application/json"},
	} {
		status, body := raw(t, a, "POST", "secrets", c.contentType, c.body)
		if status != 400 || body["code"] != float64(400) || body["title"] != "Bad Request" || body["description"] == "" {
			t.Errorf("POST %s = %d %v, want Barbican's 400", c.body, status, body)
		}
	}
	if status, body := raw(t, a, "POST", "secrets", "text/plain", `{"name": "x"}`); status != 415 || body["code"] != float64(415) {
		t.Errorf("POST as text/plain = %d %v", status, body)
	}
	big := `{"payload": "` + strings.Repeat("x", 20001) + `", "payload_content_type": "text/plain"}`
	if status, body := raw(t, a, "POST", "secrets", "application/json", big); status != 413 || body["code"] != float64(413) {
		t.Errorf("an oversized secret = %d %v", status, body)
	}
	if status, _ := raw(t, a, "PUT", "secrets/"+binary, "text/html", "x"); status != 415 {
		t.Errorf("PUT a payload of an unknown type = %d", status)
	}

	// Lists: the project's, filtered, in pages with Barbican's total and next.
	pages, err := secrets.List(a, secrets.ListOpts{Limit: 2}).AllPages(ctx)
	wantStatus(t, "list", err, 0)
	all, _ := secrets.ExtractSecrets(pages)
	if len(all) != 3 {
		t.Errorf("listed %d secrets, want 3", len(all))
	}
	status, page := raw(t, a, "GET", "secrets?limit=2", "", "")
	if status != 200 || page["total"] != float64(3) || page["next"] == nil || page["previous"] != nil {
		t.Errorf("the first page: %d %v", status, page)
	}
	pages, _ = secrets.List(a, secrets.ListOpts{Name: "key", Bits: 256, Alg: "aes"}).AllPages(ctx)
	if all, _ := secrets.ExtractSecrets(pages); len(all) != 1 || id(all[0].SecretRef) != binary {
		t.Errorf("filtered list %+v", all)
	}

	// Metadata.
	_, err = secrets.CreateMetadata(ctx, a, text, secrets.MetadataOpts{"Team": "a", "tier": "gold"}).Extract()
	wantStatus(t, "put metadata", err, 0)
	err = secrets.CreateMetadatum(ctx, a, text, secrets.MetadatumOpts{Key: "extra", Value: "1"}).Err
	wantStatus(t, "add a metadatum", err, 0)
	err = secrets.CreateMetadatum(ctx, a, text, secrets.MetadatumOpts{Key: "extra", Value: "2"}).Err
	wantStatus(t, "add it again", err, 409)
	_, err = secrets.UpdateMetadatum(ctx, a, text, secrets.MetadatumOpts{Key: "extra", Value: "3"}).Extract()
	wantStatus(t, "update a metadatum", err, 0)
	err = secrets.CreateMetadatum(ctx, a, text, secrets.MetadatumOpts{Key: "not url/safe", Value: "1"}).Err
	wantStatus(t, "add a key that is not URL-safe", err, 400)
	wantStatus(t, "delete a metadatum", secrets.DeleteMetadatum(ctx, a, text, "tier").ExtractErr(), 0)
	meta, err := secrets.GetMetadata(ctx, a, text).Extract()
	if err != nil || len(meta) != 2 || meta["team"] != "a" || meta["extra"] != "3" {
		t.Errorf("metadata %v, %v", meta, err)
	}

	// The store holds no plaintext payload.
	var sealed string
	if err := srv.Store(t).QueryRow(ctx, `SELECT payload FROM km_secrets WHERE id = ?`, later).Scan(&sealed); err != nil || strings.Contains(sealed, "now") || !strings.HasPrefix(sealed, "sov1:") {
		t.Errorf("the stored payload %q, %v", sealed, err)
	}

	// Another project: nothing.
	pages, _ = secrets.List(b, nil).AllPages(ctx)
	if all, _ := secrets.ExtractSecrets(pages); len(all) != 0 {
		t.Errorf("beta lists %d secrets", len(all))
	}
	_, err = secrets.Get(ctx, b, text).Extract()
	wantStatus(t, "beta gets", err, 404)
	_, err = secrets.GetPayload(ctx, b, text, nil).Extract()
	wantStatus(t, "beta decrypts", err, 404)
	wantStatus(t, "beta deletes", secrets.Delete(ctx, b, text).ExtractErr(), 404)
	_, err = secrets.GetMetadata(ctx, b, text).Extract()
	wantStatus(t, "beta reads metadata", err, 404)
	err = secrets.CreateMetadatum(ctx, b, text, secrets.MetadatumOpts{Key: "x", Value: "y"}).Err
	wantStatus(t, "beta adds metadata", err, 404)

	// A reader: nothing either (Barbican's secure-RBAC defaults).
	_, err = secrets.List(reader, nil).AllPages(ctx)
	wantStatus(t, "reader lists", err, 403)
	_, err = secrets.Get(ctx, reader, text).Extract()
	wantStatus(t, "reader gets", err, 403)
	_, err = secrets.GetPayload(ctx, reader, text, nil).Extract()
	wantStatus(t, "reader decrypts", err, 403)
	_, err = secrets.Create(ctx, reader, secrets.CreateOpts{Name: "r"}).Extract()
	wantStatus(t, "reader creates", err, 403)
	wantStatus(t, "reader deletes", secrets.Delete(ctx, reader, text).ExtractErr(), 403)

	// What sov does not offer is Barbican's 501, and changes nothing.
	for _, path := range []string{"secrets/" + text + "/acl", "quotas", "project-quotas/" + alpha.ProjectID, "cas"} {
		if status, body := raw(t, a, "PUT", path, "application/json", `{"read": {"project-access": false}}`); status != 501 || body["code"] != float64(501) {
			t.Errorf("PUT %s = %d %v, want 501", path, status, body)
		}
	}

	// Expired secrets are gone.
	soon := time.Now().Add(1500 * time.Millisecond)
	r, err = secrets.Create(ctx, a, secrets.CreateOpts{Name: "brief", Expiration: &soon, PayloadContentType: "text/plain", Payload: "x"}).Extract()
	wantStatus(t, "create expiring", err, 0)
	time.Sleep(time.Until(soon) + 100*time.Millisecond)
	_, err = secrets.Get(ctx, a, id(r.SecretRef)).Extract()
	wantStatus(t, "get expired", err, 404)

	wantStatus(t, "delete", secrets.Delete(ctx, a, text).ExtractErr(), 0)
	_, err = secrets.Get(ctx, a, text).Extract()
	wantStatus(t, "get deleted", err, 404)
	wantStatus(t, "delete again", secrets.Delete(ctx, a, text).ExtractErr(), 404)
}

// TestOrdersAndContainers makes keys and key pairs by order, groups
// secrets in containers of each type, records consumers, and keeps
// another project's secrets out of them.
func TestOrdersAndContainers(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	a := keyClient(t, srv.Provider(t, srv.NewTenant(t, "alpha", "")))
	b := keyClient(t, srv.Provider(t, srv.NewTenant(t, "beta", "")))

	r, err := orders.Create(ctx, a, orders.CreateOpts{Type: orders.KeyOrder, Meta: orders.MetaOpts{Name: "aes", Algorithm: "aes", BitLength: 256, Mode: "cbc",
		PayloadContentType: "application/octet-stream"}}).Extract()
	wantStatus(t, "key order", err, 0)
	o, err := orders.Get(ctx, a, id(r.OrderRef)).Extract()
	if err != nil || o.Status != "ACTIVE" || o.SecretRef == "" {
		t.Fatalf("order %+v, %v", o, err)
	}
	key, err := secrets.GetPayload(ctx, a, id(o.SecretRef), secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	if err != nil || len(key) != 32 {
		t.Errorf("the ordered key: %d bytes, %v", len(key), err)
	}
	if s, _ := secrets.Get(ctx, a, id(o.SecretRef)).Extract(); s == nil || s.SecretType != "symmetric" || s.Name != "aes" || s.BitLength != 256 {
		t.Errorf("the ordered secret %+v", s)
	}
	_, err = orders.Create(ctx, a, orders.CreateOpts{Type: orders.KeyOrder, Meta: orders.MetaOpts{Algorithm: "aes", BitLength: 100}}).Extract()
	wantStatus(t, "an aes key of 100 bits", err, 400)

	// A key pair: an rsa container of PEM keys that belong together.
	status, body := raw(t, a, "POST", "orders", "application/json", `{"type": "asymmetric", "meta": {"name": "pair", "algorithm": "rsa", "bit_length": 2048}}`)
	if status != 202 {
		t.Fatalf("asymmetric order = %d %v", status, body)
	}
	o, err = orders.Get(ctx, a, id(body["order_ref"].(string))).Extract()
	if err != nil || o.ContainerRef == "" {
		t.Fatalf("asymmetric order %+v, %v", o, err)
	}
	pair, err := containers.Get(ctx, a, id(o.ContainerRef)).Extract()
	if err != nil || pair.Type != "rsa" || len(pair.SecretRefs) != 2 {
		t.Fatalf("the pair's container %+v, %v", pair, err)
	}
	pems := map[string][]byte{}
	for _, ref := range pair.SecretRefs {
		pems[ref.Name], _ = secrets.GetPayload(ctx, a, id(ref.SecretRef), secrets.GetPayloadOpts{PayloadContentType: "application/octet-stream"}).Extract()
	}
	priv, _ := pem.Decode(pems["private_key"])
	pub, _ := pem.Decode(pems["public_key"])
	if priv == nil || pub == nil {
		t.Fatalf("the pair's PEMs: %q %q", pems["private_key"], pems["public_key"])
	}
	pk, err1 := x509.ParsePKCS8PrivateKey(priv.Bytes)
	pubk, err2 := x509.ParsePKIXPublicKey(pub.Bytes)
	if err1 != nil || err2 != nil || !pk.(*rsa.PrivateKey).PublicKey.Equal(pubk) {
		t.Errorf("the pair does not belong together: %v %v", err1, err2)
	}

	// Containers: a generic one takes any names; a certificate one needs its certificate.
	mk := func(name string) string {
		r, err := secrets.Create(ctx, a, secrets.CreateOpts{Name: name, PayloadContentType: "text/plain", Payload: name}).Extract()
		wantStatus(t, "create "+name, err, 0)
		return r.SecretRef
	}
	cert, privKey, other := mk("cert"), mk("key"), mk("other")
	c, err := containers.Create(ctx, a, containers.CreateOpts{Type: containers.CertificateContainer, Name: "tls",
		SecretRefs: []containers.SecretRef{{Name: "certificate", SecretRef: cert}, {Name: "private_key", SecretRef: privKey}}}).Extract()
	wantStatus(t, "certificate container", err, 0)
	tls := id(c.ContainerRef)
	_, err = containers.Create(ctx, a, containers.CreateOpts{Type: containers.CertificateContainer,
		SecretRefs: []containers.SecretRef{{Name: "private_key", SecretRef: privKey}}}).Extract()
	wantStatus(t, "certificate container without a certificate", err, 400)
	_, err = containers.Create(ctx, a, containers.CreateOpts{Type: containers.GenericContainer,
		SecretRefs: []containers.SecretRef{{Name: "bare", SecretRef: id(cert)}}}).Extract()
	wantStatus(t, "a container of a bare secret id", err, 400)
	_, err = containers.Create(ctx, a, containers.CreateOpts{Type: containers.RSAContainer,
		SecretRefs: []containers.SecretRef{{Name: "private_key", SecretRef: privKey}}}).Extract()
	wantStatus(t, "rsa container without a public key", err, 400)
	c, err = containers.Create(ctx, a, containers.CreateOpts{Type: containers.GenericContainer, Name: "bag",
		SecretRefs: []containers.SecretRef{{Name: "one", SecretRef: cert}}}).Extract()
	wantStatus(t, "generic container", err, 0)
	bag := id(c.ContainerRef)
	_, err = containers.CreateSecretRef(ctx, a, bag, containers.SecretRef{Name: "two", SecretRef: other}).Extract()
	wantStatus(t, "add a secret", err, 0)
	_, err = containers.CreateSecretRef(ctx, a, tls, containers.SecretRef{Name: "intermediates", SecretRef: other}).Extract()
	wantStatus(t, "add a secret to a certificate container", err, 400)
	wantStatus(t, "remove a secret", containers.DeleteSecretRef(ctx, a, bag, containers.SecretRef{Name: "one", SecretRef: cert}).ExtractErr(), 0)
	if got, _ := containers.Get(ctx, a, bag).Extract(); got == nil || len(got.SecretRefs) != 1 || got.SecretRefs[0].Name != "two" {
		t.Errorf("the bag %+v", got)
	}

	// Consumers.
	_, err = containers.CreateConsumer(ctx, a, tls, containers.CreateConsumerOpts{Name: "lbaas", URL: "https://lb/1"}).Extract()
	wantStatus(t, "add a consumer", err, 0)
	cpages, err := containers.ListConsumers(a, tls, nil).AllPages(ctx)
	wantStatus(t, "list consumers", err, 0)
	if cs, _ := containers.ExtractConsumers(cpages); len(cs) != 1 || cs[0].URL != "https://lb/1" {
		t.Errorf("consumers %+v", cs)
	}
	_, err = containers.DeleteConsumer(ctx, a, tls, containers.DeleteConsumerOpts{Name: "lbaas", URL: "https://lb/1"}).Extract()
	wantStatus(t, "remove the consumer", err, 0)

	// Beta: cannot see them, cannot put alpha's secrets in its containers.
	_, err = containers.Get(ctx, b, tls).Extract()
	wantStatus(t, "beta gets the container", err, 404)
	wantStatus(t, "beta deletes it", containers.Delete(ctx, b, tls).ExtractErr(), 404)
	_, err = orders.Get(ctx, b, id(r.OrderRef)).Extract()
	wantStatus(t, "beta gets the order", err, 404)
	_, err = containers.Create(ctx, b, containers.CreateOpts{Type: containers.GenericContainer,
		SecretRefs: []containers.SecretRef{{Name: "stolen", SecretRef: cert}}}).Extract()
	wantStatus(t, "beta contains alpha's secret", err, 404)
	_, err = containers.CreateConsumer(ctx, b, tls, containers.CreateConsumerOpts{Name: "x", URL: "y"}).Extract()
	wantStatus(t, "beta consumes", err, 404)
	if cpages, _ := containers.List(b, nil).AllPages(ctx); cpages != nil {
		if cs, _ := containers.ExtractContainers(cpages); len(cs) != 0 {
			t.Errorf("beta lists %d containers", len(cs))
		}
	}

	// Deleting a container keeps its secrets; deleting a secret takes it out of containers.
	wantStatus(t, "delete the container", containers.Delete(ctx, a, tls).ExtractErr(), 0)
	if _, err := secrets.Get(ctx, a, id(cert)).Extract(); err != nil {
		t.Errorf("the certificate went with its container: %v", err)
	}
	wantStatus(t, "delete a contained secret", secrets.Delete(ctx, a, id(other)).ExtractErr(), 0)
	if got, _ := containers.Get(ctx, a, bag).Extract(); got == nil || len(got.SecretRefs) != 0 {
		t.Errorf("the bag after its secret's delete: %+v", got)
	}
	opages, _ := orders.List(a, nil).AllPages(ctx)
	if os, _ := orders.ExtractOrders(opages); len(os) != 2 {
		t.Errorf("alpha lists %d orders", len(os))
	}
	wantStatus(t, "delete an order", orders.Delete(ctx, a, id(r.OrderRef)).ExtractErr(), 0)
}

// TestMasterKeyRotation restarts sov with a new master key: payloads still
// open, and are sealed under the new key.
func TestMasterKeyRotation(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	tenant := srv.NewTenant(t, "alpha", "")
	a := keyClient(t, srv.Provider(t, tenant))
	r, err := secrets.Create(ctx, a, secrets.CreateOpts{PayloadContentType: "text/plain", Payload: "kept"}).Extract()
	wantStatus(t, "create", err, 0)
	sealed := func(s *servertest.Server) string {
		var v string
		if err := s.Store(t).QueryRow(ctx, `SELECT payload FROM km_secrets WHERE id = ?`, id(r.SecretRef)).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := sealed(srv)
	srv = srv.RestartWith(t, func(c *server.Config) { c.RotateMasterKey = true })
	if after := sealed(srv); after == before {
		t.Error("the payload is sealed as before the rotation")
	}
	a = keyClient(t, srv.Provider(t, tenant))
	if p, err := secrets.GetPayload(ctx, a, id(r.SecretRef), nil).Extract(); err != nil || string(p) != "kept" {
		t.Errorf("after the rotation: %q, %v", p, err)
	}
}

// TestVersions answers Barbican's version documents without a token.
func TestVersions(t *testing.T) {
	t.Parallel()
	srv := servertest.Start(t, servertest.Fake)
	resp, err := http.Get(srv.URL + "/key-manager")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 300 || !strings.Contains(string(b), `"values"`) || !strings.Contains(string(b), srv.URL+"/key-manager/v1/") {
		t.Errorf("GET /key-manager = %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(srv.URL + "/key-manager/v1/secrets")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("secrets without a token = %d", resp.StatusCode)
	}
}
