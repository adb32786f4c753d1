package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sovcloud/sov/internal/policy"
)

type authFunc func(r *http.Request) (*policy.Credentials, error)

func (f authFunc) Authenticate(r *http.Request) (*policy.Credentials, error) { return f(r) }

func TestRequireProject(t *testing.T) {
	calls := 0
	a := authFunc(func(r *http.Request) (*policy.Credentials, error) {
		calls++
		switch r.Header.Get("X-Auth-Token") {
		case "project":
			return &policy.Credentials{UserID: "u", ProjectID: "p"}, nil
		case "domain":
			return &policy.Credentials{UserID: "u", DomainID: "d"}, nil
		}
		return nil, Errorf(http.StatusUnauthorized, "no")
	})
	noScope := Errorf(http.StatusForbidden, "needs a project")
	var failed error
	var seen *policy.Credentials
	h := RequireProject(a, noScope, func(w http.ResponseWriter, r *http.Request, err error) { failed = err },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = CredentialsFrom(r.Context()) }))
	for tok, want := range map[string]error{"": nil, "domain": noScope, "project": nil} {
		failed, seen = nil, nil
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("X-Auth-Token", tok)
		h.ServeHTTP(httptest.NewRecorder(), r)
		switch tok {
		case "":
			if code, _, _ := Status(failed); code != http.StatusUnauthorized || seen != nil {
				t.Errorf("no token: %v, handler saw %v", failed, seen)
			}
		case "project":
			if failed != nil || seen == nil || seen.ProjectID != "p" {
				t.Errorf("project token: %v, %v", failed, seen)
			}
		default:
			if !errors.Is(failed, want) || seen != nil {
				t.Errorf("%s token: %v", tok, failed)
			}
		}
	}
	if calls != 3 {
		t.Errorf("authenticated %d times for 3 requests", calls)
	}
}
