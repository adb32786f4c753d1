package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want Problem
	}{
		{"API error", Errorf(http.StatusBadRequest, "bad %s", "name"), Problem{Status: 400, Message: "bad name"}},
		{"wrapped API error", fmt.Errorf("ctx: %w", Errorf(http.StatusConflict, "taken")), Problem{Status: 409, Message: "taken"}},
		{"policy denial", policy.Enforce(nil, "compute:create_server", policy.Target{}), Problem{Status: 403, Denied: "compute:create_server"}},
		{"unreachable store", fmt.Errorf("q: %w", store.ErrUnavailable), Problem{Status: 503, Message: "The service cannot reach its store; try again later."}},
		{"missing row", store.ErrNotFound, Problem{Status: 404}},
		{"conflict", fmt.Errorf("%w: unique", store.ErrConflict), Problem{Status: 409}},
		{"anything else", errors.New("boom"), Problem{Status: 500}},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if !errors.Is(policy.Enforce(nil, "x", policy.Target{}), policy.ErrForbidden) {
		t.Error("a denial is not ErrForbidden")
	}
}
