package identity_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/credentials"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

const totpSecret = "JBSWY3DPEHPK3PXPJBSWY3DP"

// code is the TOTP code of totpSecret at now+offset steps.
func code(t *testing.T, steps int) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(totpSecret, time.Now().Add(time.Duration(steps)*30*time.Second),
		totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTOTP: a user with a TOTP credential authenticates with password and
// totp together, or totp alone (Keystone's methods); a code is good once;
// with multi-factor rules, password alone is refused.
func TestTOTP(t *testing.T) {
	c := newCloud(t)
	u := c.user("otp", "default")
	if _, err := credentials.Create(ctx, c.admin, credentials.CreateOpts{Type: "totp", UserID: u.ID, Blob: totpSecret}).Extract(); err != nil {
		t.Fatal(err)
	}
	auth := func(methods []string, passcode string) int {
		identity := map[string]any{"methods": methods}
		for _, m := range methods {
			switch m {
			case "password":
				identity["password"] = map[string]any{"user": map[string]any{"id": u.ID, "password": "otp-pw"}}
			case "totp":
				identity["totp"] = map[string]any{"user": map[string]any{"id": u.ID, "passcode": passcode}}
			}
		}
		code, _ := c.API(t, "", "POST", "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": identity}})
		return code
	}
	now := code(t, 0)
	if got := auth([]string{"password", "totp"}, now); got != http.StatusCreated {
		t.Fatalf("password and totp: %d", got)
	}
	if got := auth([]string{"password", "totp"}, now); got != http.StatusUnauthorized {
		t.Fatalf("the same code again: %d", got)
	}
	if got := auth([]string{"password", "totp"}, "000000"); got != http.StatusUnauthorized {
		t.Fatalf("a wrong code: %d", got)
	}
	if got := auth([]string{"totp"}, code(t, -1)); got != http.StatusCreated {
		t.Fatalf("totp alone: %d", got)
	}
	if got := auth([]string{"totp"}, code(t, 5)); got != http.StatusUnauthorized {
		t.Fatalf("a code of another time: %d", got)
	}
	// Multi-factor rules: password alone, or totp alone, no longer do.
	if code, out := c.API(t, c.AdminToken(t), "PATCH", "/identity/v3/users/"+u.ID, map[string]any{"user": map[string]any{
		"options": map[string]any{"multi_factor_auth_enabled": true, "multi_factor_auth_rules": [][]string{{"password", "totp"}}}}}); code != http.StatusOK {
		t.Fatalf("set MFA rules: %d %v", code, out)
	}
	if got := auth([]string{"password"}, ""); got != http.StatusUnauthorized {
		t.Fatalf("password alone under MFA rules: %d", got)
	}
	if got := auth([]string{"totp"}, code(t, 1)); got != http.StatusUnauthorized {
		t.Fatalf("totp alone under MFA rules: %d", got)
	}
	if got := auth([]string{"password", "totp"}, code(t, 0)); got != http.StatusUnauthorized {
		// code(t, 0) was used above; the next step's was refused only by the rules.
		t.Fatalf("a used code under MFA rules: %d", got)
	}
	if code, _ := c.API(t, c.AdminToken(t), "PATCH", "/identity/v3/users/"+u.ID, map[string]any{"user": map[string]any{
		"options": map[string]any{"multi_factor_auth_rules": [][]string{{"password", "carrier-pigeon"}}}}}); code != http.StatusBadRequest {
		t.Fatalf("a rule with an unknown method: %d", code)
	}
}

// TestTOTPGuessingLimited: with the password known, wrong codes count as
// failed logins: past the limit the user gets 429, even with a right code.
func TestTOTPGuessingLimited(t *testing.T) {
	srv := servertest.Start(t, func(c *server.Config) { servertest.Fake(c); c.Identity.LoginFailures = 3 })
	c := &cloud{Server: srv, admin: srv.Admin(t), t: t}
	u := c.user("guessed", "default")
	if _, err := credentials.Create(ctx, c.admin, credentials.CreateOpts{Type: "totp", UserID: u.ID, Blob: totpSecret}).Extract(); err != nil {
		t.Fatal(err)
	}
	auth := func(passcode string) int {
		code, _ := c.API(t, "", "POST", "/identity/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": map[string]any{
			"methods":  []string{"password", "totp"},
			"password": map[string]any{"user": map[string]any{"id": u.ID, "password": "guessed-pw"}},
			"totp":     map[string]any{"user": map[string]any{"id": u.ID, "passcode": passcode}}}}})
		return code
	}
	for _, guess := range []string{"111111", "222222", "333333"} {
		if got := auth(guess); got != http.StatusUnauthorized {
			t.Fatalf("guess %s: %d", guess, got)
		}
	}
	if got := auth(code(t, 0)); got != http.StatusTooManyRequests {
		t.Fatalf("after 3 wrong codes: %d, want 429", got)
	}
}
