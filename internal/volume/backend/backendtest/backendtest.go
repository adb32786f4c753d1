// Package backendtest is the behaviour every volume driver shows, run by
// each driver's own tests against its real engine.
package backendtest

import (
	"context"
	"slices"
	"testing"

	"github.com/sovcloud/sov/internal/volume/backend"
)

// Run checks d; size reads a volume's size from the driver's engine
// (false when it holds no such volume).
func Run(t *testing.T, d backend.Driver, size func(id string) (int64, bool)) {
	ctx := context.Background()
	const a, b = "0a0a0a0a-0000-4000-8000-00000000000a", "0b0b0b0b-0000-4000-8000-00000000000b"
	const gib = int64(1) << 30
	for _, id := range []string{a, b} {
		if err := d.Create(ctx, id, gib); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	if n, ok := size(a); !ok || n != gib {
		t.Errorf("size after create: %d %v, want %d", n, ok, gib)
	}
	if err := d.Extend(ctx, a, 3*gib); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if n, ok := size(a); !ok || n != 3*gib {
		t.Errorf("size after extend: %d %v, want %d", n, ok, 3*gib)
	}
	if n, _ := size(b); n != gib {
		t.Errorf("the other volume's size changed to %d", n)
	}
	ids, err := d.List(ctx)
	if err != nil || !slices.Equal(ids, []string{a, b}) && !slices.Equal(ids, []string{b, a}) {
		t.Errorf("list: %v %v", ids, err)
	}
	if err := d.Extend(ctx, "0c0c0c0c-0000-4000-8000-00000000000c", gib); err == nil {
		t.Error("extending a volume that is not there succeeded")
	}
	for i := 0; i < 2; i++ { // deleting a gone volume succeeds
		if err := d.Delete(ctx, a); err != nil {
			t.Fatalf("delete (%d): %v", i, err)
		}
	}
	if _, ok := size(a); ok {
		t.Error("a deleted volume is still there")
	}
	if ids, _ := d.List(ctx); !slices.Equal(ids, []string{b}) {
		t.Errorf("list after delete: %v", ids)
	}
}
