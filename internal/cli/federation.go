package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/client"
)

// DefaultTrustMapping is the mapping `sov federation trust` gives a
// trusted provider unless told otherwise: each user (by their id there)
// becomes a user of the provider's domain here, named
// <name>@<their domain>, and a member of one project here for each project
// they have a role on there, of the same name. A user with no project
// there maps to no one.
const DefaultTrustMapping = `[{"local": [{"user": {"id": "{0}", "name": "{1}@{2}"}}, {"projects": [{"name": "{3}", "roles": [{"name": "member"}]}]}],
  "remote": [{"type": "sub"}, {"type": "preferred_username"}, {"type": "domain.name"}, {"type": "projects.name"}]}]`

var idpName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// federation runs `sov federation trust`: the cloud trusts another
// OpenID Connect provider (another sov, Keycloak...), whose users then use
// it with their tokens from there.
func federation(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "trust" {
		fmt.Fprintln(stderr, "usage: sov federation trust --issuer URL --audience CLIENT_ID [flags]")
		return fmt.Errorf("want: sov federation trust")
	}
	fs := flag.NewFlagSet("federation trust", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf cloudFlags
	cf.register(fs)
	issuer := fs.String("issuer", "", "issuer URL of the provider to trust (another sov: https://host/identity)")
	name := fs.String("name", "", "the identity provider's id here (default made from the issuer's host)")
	var audiences multiFlag
	fs.Var(&audiences, "audience", "client id at the provider whose access tokens this cloud accepts (repeat for more)")
	caFile := fs.String("ca-file", "", "PEM CAs of the provider's certificate (default the system's)")
	mappingFile := fs.String("mapping", "", "JSON file of the mapping rules (default: see DefaultTrustMapping in the docs)")
	domain := fs.String("domain-id", "", "domain of the provider's users here (default a new domain named after the provider)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *issuer == "" || len(audiences) == 0 {
		return fmt.Errorf("sov federation trust needs --issuer and at least one --audience")
	}
	u, err := url.Parse(*issuer)
	if err != nil || u.Host == "" {
		return fmt.Errorf("--issuer %q is not a URL", *issuer)
	}
	id := *name
	if id == "" {
		id = strings.Trim(idpName.ReplaceAllString(u.Host+u.Path, "-"), "-")
	}
	rules := json.RawMessage(DefaultTrustMapping)
	if *mappingFile != "" {
		b, err := os.ReadFile(*mappingFile)
		if err != nil {
			return err
		}
		var wrapped struct {
			Rules json.RawMessage `json:"rules"`
		}
		if json.Unmarshal(b, &wrapped) == nil && wrapped.Rules != nil {
			b = wrapped.Rules
		}
		rules = b
	}
	hc, caPEM, err := httpClientTrusting(*caFile)
	if err != nil {
		return err
	}
	if _, err := client.Discover(ctx, *issuer, hc); err != nil {
		return fmt.Errorf("provider %s: %w", *issuer, err)
	}
	c, err := cf.connect(ctx)
	if err != nil {
		return err
	}
	idp := map[string]any{"remote_ids": []string{*issuer}, "description": "trusted with sov federation trust",
		"oidc": map[string]any{"audiences": []string(audiences), "ca_certificate": caPEM}}
	if *domain != "" {
		idp["domain_id"] = *domain
	}
	var made struct {
		IdP struct {
			DomainID string `json:"domain_id"`
		} `json:"identity_provider"`
	}
	if err := c.call(ctx, "PUT", "/v3/OS-FEDERATION/identity_providers/"+id, map[string]any{"identity_provider": idp}, &made); err != nil {
		return err
	}
	if err := c.call(ctx, "PUT", "/v3/OS-FEDERATION/mappings/"+id, map[string]any{"mapping": map[string]any{"rules": rules}}, nil); err != nil {
		return err
	}
	if err := c.call(ctx, "PUT", "/v3/OS-FEDERATION/identity_providers/"+id+"/protocols/openid", map[string]any{"protocol": map[string]any{"mapping_id": id}}, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, `This cloud trusts %s as identity provider %q; its users are in domain %s.

A user of it logs in there and uses this cloud:
  export OS_ACCESS_TOKEN=$(sov login --issuer %s --client-id %s)
  openstack --os-auth-type v3oidcaccesstoken --os-auth-url %s/v3 \
    --os-identity-provider %s --os-protocol openid \
    --os-project-domain-id %s --os-project-name PROJECT server list
`, *issuer, id, made.IdP.DomainID, *issuer, audiences[0], c.identity, id, made.IdP.DomainID)
	return nil
}
