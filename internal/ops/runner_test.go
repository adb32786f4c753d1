package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

func newRunner(t *testing.T) *Runner {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "sov.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return New(db, "thing", slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// TestRunnerRecordsAndSerialises: operations on one resource run one at a
// time; each is recorded with its result; Recover ends what a stop cut.
func TestRunnerRecordsAndSerialises(t *testing.T) {
	ctx := context.Background()
	r := newRunner(t)
	var inside, most atomic.Int32
	results := make(chan error, 4)
	for i, fail := range []bool{false, true, false} {
		a := Action{ResourceID: "t1", RequestID: "req-" + string(rune('a'+i)), Name: "poke", UserID: "u", ProjectID: "p", Start: time.Now().Add(time.Duration(i) * time.Millisecond)}
		if err := r.Record(ctx, a); err != nil {
			t.Fatal(err)
		}
		r.Go(a, "thing_poke", func(context.Context) error {
			n := inside.Add(1)
			defer inside.Add(-1)
			if n > most.Load() {
				most.Store(n)
			}
			time.Sleep(5 * time.Millisecond)
			if fail {
				return errors.New("it broke")
			}
			return nil
		}, func(_ context.Context, err error) { results <- err })
	}
	r.Wait()
	if most.Load() != 1 {
		t.Errorf("%d operations on one resource ran at once", most.Load())
	}
	close(results)
	failed := 0
	for err := range results {
		if err != nil {
			failed++
		}
	}
	if failed != 1 {
		t.Errorf("done saw %d failures, want 1", failed)
	}
	actions, err := r.Actions(ctx, "t1")
	if err != nil || len(actions) != 3 || actions[0].RequestID != "req-c" {
		t.Fatalf("actions = %+v, %v", actions, err)
	}
	_, events, err := r.Action(ctx, "t1", "req-b")
	if err != nil || len(events) != 1 || events[0].Result != "Error" || events[0].Traceback != "it broke" || events[0].Finish.IsZero() {
		t.Errorf("the failed action's events = %+v, %v", events, err)
	}
	// An event a stop cut short (started, never finished) ends as an error.
	if _, err := r.db.Exec(ctx, `INSERT INTO action_events (kind, resource_id, request_id, event, start_time) VALUES ('thing', 't1', 'req-a', 'cut', 1)`); err != nil {
		t.Fatal(err)
	}
	if err := r.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	_, events, _ = r.Action(ctx, "t1", "req-a")
	for _, e := range events {
		if e.Name == "cut" && (e.Result != "Error" || e.Finish.IsZero()) {
			t.Errorf("an interrupted event after Recover: %+v", e)
		}
	}
	if err := r.Forget(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if actions, _ := r.Actions(ctx, "t1"); len(actions) != 0 {
		t.Errorf("actions after Forget: %v", actions)
	}
}
