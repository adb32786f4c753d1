package cli_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/sovcloud/sov/internal/servertest"
)

// TestOpenStackCLITOTP: keystoneauth's v3multifactor (password and totp in
// one request) and v3totp log in a user with a TOTP credential; a user
// whose multi-factor rules need both is refused with the password alone.
func TestOpenStackCLITOTP(t *testing.T) {
	t.Parallel()
	requireOpenStackCLI(t)
	s := servertest.Start(t, servertest.Fake)
	tn := s.NewTenant(t, "otp", "member")
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DP"
	admin := s.AdminToken(t)
	if code, out := s.API(t, admin, "POST", "/identity/v3/credentials", map[string]any{"credential": map[string]any{"type": "totp", "user_id": tn.UserID, "blob": secret}}); code != http.StatusCreated {
		t.Fatalf("TOTP credential: %d %v", code, out)
	}
	if code, _ := s.API(t, admin, "PATCH", "/identity/v3/users/"+tn.UserID, map[string]any{"user": map[string]any{"options": map[string]any{
		"multi_factor_auth_enabled": true, "multi_factor_auth_rules": [][]string{{"password", "totp"}}}}}); code != http.StatusOK {
		t.Fatalf("MFA rules: %d", code)
	}
	none := filepath.Join(t.TempDir(), "none.yaml")
	user := []string{"--os-auth-url", s.AuthURL, "--os-identity-api-version", "3", "--os-user-id", tn.UserID, "--os-project-id", tn.ProjectID}
	code, err := totp.GenerateCode(secret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The list of methods goes through clouds.yaml: the CLI's flag reads it as one string.
	clouds := filepath.Join(t.TempDir(), "clouds.yaml")
	os.WriteFile(clouds, []byte(fmt.Sprintf(`clouds:
  otp:
    auth_type: v3multifactor
    auth_methods: [v3password, v3totp]
    auth: {auth_url: %s, user_id: %s, password: %s, passcode: "%s", project_id: %s}
`, s.AuthURL, tn.UserID, tn.Password, code, tn.ProjectID)), 0o600)
	var tok map[string]string
	jsonOut(t, osc(t, clouds, true, "--os-cloud", "otp", "token", "issue", "-f", "json"), &tok)
	if tok["project_id"] != tn.ProjectID {
		t.Fatalf("multi-factor token = %v", tok)
	}
	osc(t, none, false, append(user, "--os-password", tn.Password, "token", "issue")...)
}
