package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sovcloud/sov/internal/store"
)

// TestBatch runs many Batch calls at once, some failing: the failing ones
// leave nothing behind, all others are committed.
func TestBatch(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	prefix := "batch-" + t.Name() + "-"
	db.Exec(ctx, `DELETE FROM domains WHERE id LIKE ?`, prefix+"%")
	t.Cleanup(func() { db.Exec(ctx, `DELETE FROM domains WHERE id LIKE ?`, prefix+"%") })
	boom := errors.New("boom")
	var wg sync.WaitGroup
	errs := make([]error, 64)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = db.Batch(ctx, func(tx *store.Tx) error {
				id := fmt.Sprintf("%s%02d", prefix, i)
				if _, err := tx.Exec(ctx, `INSERT INTO domains (id, name, enabled) VALUES (?, ?, ?)`, id, id, true); err != nil {
					return err
				}
				if i%5 == 0 {
					return boom // after writing: the savepoint must undo it
				}
				if i%7 == 0 {
					// A constraint error inside a batch fails only this call.
					_, err := tx.Exec(ctx, `INSERT INTO domains (id, name, enabled) VALUES (?, ?, ?)`, id, id, true)
					return err
				}
				return nil
			})
		}()
	}
	wg.Wait()
	want := 0
	for i, err := range errs {
		switch {
		case i%5 == 0:
			if !errors.Is(err, boom) {
				t.Errorf("call %d = %v, want boom", i, err)
			}
		case i%7 == 0:
			if !errors.Is(err, store.ErrConflict) {
				t.Errorf("call %d = %v, want ErrConflict", i, err)
			}
		default:
			want++
			if err != nil {
				t.Errorf("call %d = %v", i, err)
			}
		}
	}
	var got int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM domains WHERE id LIKE ?`, prefix+"%").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("%d rows committed, want %d", got, want)
	}
}
