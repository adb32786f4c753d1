package httpapi

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/policy"
)

// Authenticator finds the caller of a request (identity implements it
// with the request's X-Auth-Token).
type Authenticator interface {
	Authenticate(r *http.Request) (*policy.Credentials, error)
}

type credentialsKey struct{}

// WithCredentials returns ctx carrying the caller's credentials.
func WithCredentials(ctx context.Context, c *policy.Credentials) context.Context {
	return context.WithValue(ctx, credentialsKey{}, c)
}

// CredentialsFrom is the caller of the request ctx belongs to, nil when
// it was not authenticated.
func CredentialsFrom(ctx context.Context) *policy.Credentials {
	c, _ := ctx.Value(credentialsKey{}).(*policy.Credentials)
	return c
}

// RequireProject authenticates each request once with a, refuses tokens
// without a project scope (noScope is the API's error for that), puts the
// credentials in the request's context and runs h; errors go to fail, in
// the API's format.
func RequireProject(a Authenticator, noScope error, fail func(w http.ResponseWriter, r *http.Request, err error), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := a.Authenticate(r)
		if err == nil && c.ProjectID == "" {
			err = noScope
		}
		if err != nil {
			fail(w, r, err)
			return
		}
		h.ServeHTTP(w, r.WithContext(WithCredentials(r.Context(), c)))
	})
}
