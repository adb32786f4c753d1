package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
)

// oidcCommand runs `sov oidc client create|list|delete`: the clients of a
// cloud's OpenID Connect provider.
func oidcCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || args[0] != "client" {
		fmt.Fprintln(stderr, "usage: sov oidc client create|list|delete [flags]")
		return fmt.Errorf("want: sov oidc client create|list|delete")
	}
	fs := flag.NewFlagSet("oidc client "+args[1], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cf cloudFlags
	cf.register(fs)
	switch args[1] {
	case "create":
		name := fs.String("name", "", "the client's name, shown on the login page")
		public := fs.Bool("public", false, "a public client (a command line, a browser app): no secret, PKCE required")
		domain := fs.String("domain-id", "", "domain the client belongs to (default the caller's)")
		appType := fs.String("application-type", "", "web, native or user_agent (default web, or native for a public client)")
		consent := fs.Bool("require-consent", false, "show users what the client asks for after they sign in (for third-party clients)")
		var redirects, logout, grants, scopes multiFlag
		fs.Var(&redirects, "redirect-uri", "a redirect URI, matched exactly (repeat for more)")
		fs.Var(&logout, "post-logout-redirect-uri", "a URI end-session may send the browser to (repeat for more)")
		fs.Var(&grants, "grant", "authorization_code, refresh_token, client_credentials or device_code (repeat; default the first two)")
		fs.Var(&scopes, "scope", "a scope the client may ask for beyond openid: profile, email, offline_access, groups, projects (repeat; default all)")
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		c, err := cf.connect(ctx)
		if err != nil {
			return err
		}
		body := map[string]any{"name": *name, "public": *public, "require_consent": *consent}
		if *domain != "" {
			body["domain_id"] = *domain
		}
		if *appType != "" {
			body["application_type"] = *appType
		}
		for k, v := range map[string]multiFlag{"redirect_uris": redirects, "post_logout_redirect_uris": logout, "scopes": scopes} {
			if len(v) > 0 {
				body[k] = []string(v)
			}
		}
		if len(grants) > 0 {
			var g []string
			for _, x := range grants {
				if x == "device_code" {
					x = "urn:ietf:params:oauth:grant-type:device_code"
				}
				g = append(g, x)
			}
			body["grant_types"] = g
		}
		var out struct {
			Client map[string]any `json:"client"`
		}
		if err := c.call(ctx, "POST", "/oidc/clients", map[string]any{"client": body}, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "client_id: %v\n", out.Client["id"])
		if s, ok := out.Client["secret"]; ok {
			fmt.Fprintf(stdout, "client_secret: %v\n(the secret is shown only now)\n", s)
		}
		fmt.Fprintf(stdout, "issuer: %s\n", c.identity)
		return nil
	case "list":
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		c, err := cf.connect(ctx)
		if err != nil {
			return err
		}
		var out struct {
			Clients []map[string]any `json:"clients"`
		}
		if err := c.call(ctx, "GET", "/oidc/clients", nil, &out); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-32s  %-7s  %-24s  %s\n", "ID", "PUBLIC", "NAME", "GRANTS")
		for _, cl := range out.Clients {
			fmt.Fprintf(stdout, "%-32v  %-7v  %-24v  %v\n", cl["id"], cl["public"], cl["name"], strings.Trim(fmt.Sprint(cl["grant_types"]), "[]"))
		}
		return nil
	case "delete":
		if err := fs.Parse(args[2:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return fmt.Errorf("usage: sov oidc client delete [flags] CLIENT_ID")
		}
		c, err := cf.connect(ctx)
		if err != nil {
			return err
		}
		return c.call(ctx, "DELETE", "/oidc/clients/"+fs.Arg(0), nil, nil)
	}
	return fmt.Errorf("unknown command: sov oidc client %s", args[1])
}
