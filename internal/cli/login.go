package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/client/rp"
)

// login runs `sov login`: the device authorization grant at an OpenID
// Connect provider (a sov, or any other). It prints where to sign in on
// stderr and the access token on stdout, for keystoneauth's
// v3oidcaccesstoken (export OS_ACCESS_TOKEN=$(sov login ...)).
func login(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("login", flag.ContinueOnError)
	fs.SetOutput(stderr)
	issuer := fs.String("issuer", "", "the provider's issuer URL, e.g. https://cloud-a.example/identity")
	clientID := fs.String("client-id", "", "a public client of the provider with the device_code grant")
	caFile := fs.String("ca-file", "", "PEM CAs of the provider's certificate (default the system's)")
	scope := fs.String("scope", "openid profile email groups projects", "scopes to ask for")
	wait := fs.Duration("timeout", 10*time.Minute, "how long to wait for the sign-in")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *issuer == "" || *clientID == "" {
		return fmt.Errorf("sov login needs --issuer and --client-id")
	}
	hc, _, err := httpClientTrusting(*caFile)
	if err != nil {
		return err
	}
	scopes := strings.Fields(*scope)
	party, err := rp.NewRelyingPartyOIDC(ctx, *issuer, *clientID, "", "", scopes, rp.WithHTTPClient(hc))
	if err != nil {
		return fmt.Errorf("provider %s: %w", *issuer, err)
	}
	auth, err := rp.DeviceAuthorization(ctx, scopes, party, nil)
	if err != nil {
		return fmt.Errorf("device authorization: %w", err)
	}
	fmt.Fprintf(stderr, "To sign in, open %s\nand enter the code %s (or open %s).\n", auth.VerificationURI, auth.UserCode, auth.VerificationURIComplete)
	ctx, cancel := context.WithTimeout(ctx, *wait)
	defer cancel()
	interval := time.Duration(max(auth.Interval, 1)) * time.Second
	tok, err := rp.DeviceAccessToken(ctx, auth.DeviceCode, interval, party)
	if err != nil {
		return fmt.Errorf("sign-in: %w", err)
	}
	fmt.Fprintln(stdout, tok.AccessToken)
	fmt.Fprintf(stderr, "Signed in; the access token (on stdout) expires in %d s.\n", tok.ExpiresIn)
	return nil
}
