package openid_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/sovcloud/sov/internal/servertest"
)

func api(t testing.TB, s *servertest.Server, token, method, path string, body any) (int, map[string]any) {
	t.Helper()
	return s.API(t, token, method, path, body)
}

func token(t testing.TB, c *gophercloud.ServiceClient) string {
	t.Helper()
	return c.ProviderClient.Token()
}

func newClient(t testing.TB, s *servertest.Server, body map[string]any) (id, secret string) {
	t.Helper()
	return s.NewOIDCClient(t, body)
}

func signIn(t testing.TB, s *servertest.Server, authURL, redirectURI, user, password string) (code, state string) {
	t.Helper()
	return s.SignIn(t, authURL, redirectURI, user, password)
}

func ctx() context.Context { return context.Background() }

// must returns v, or panics with err (which fails the test that called it).
func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Errorf("%T: %w", v, err))
	}
	return v
}
