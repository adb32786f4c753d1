// Package ops runs the long operations of one kind of resource (a
// server's build, later a volume's creation or a load balancer's update):
// one at a time per resource, in the background, waited for when the
// service closes, and each recorded as an action (who asked what, when)
// with the events the operation went through and their results. Nova's
// os-instance-actions (openstack server event list) reads that record.
package ops

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// Runner runs and records the operations of one kind of resource.
type Runner struct {
	db   *store.DB
	kind string
	log  *slog.Logger

	mu    sync.Mutex
	locks map[string]*sync.Mutex
	work  sync.WaitGroup
}

// New returns the runner of resources of kind ("server", "volume", …).
func New(db *store.DB, kind string, log *slog.Logger) *Runner {
	return &Runner{db: db, kind: kind, log: log, locks: map[string]*sync.Mutex{}}
}

// Lock takes the lock of one resource; operations on it run one at a time.
func (r *Runner) Lock(id string) (unlock func()) {
	r.mu.Lock()
	m, ok := r.locks[id]
	if !ok {
		m = &sync.Mutex{}
		r.locks[id] = m
	}
	r.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// Action is one request on a resource.
type Action struct {
	ResourceID, RequestID string
	Name                  string // "create", "stop", …
	UserID, ProjectID     string
	Start                 time.Time
}

// Event is one step of an action and how it ended.
type Event struct {
	Name          string
	Start, Finish time.Time // Finish is zero while it runs
	// Result is "Success" or "Error"; Traceback says why it failed.
	Result, Traceback string
}

// Record records an action as the API accepts it.
func (r *Runner) Record(ctx context.Context, a Action) error {
	_, err := r.db.Exec(ctx, `INSERT INTO actions (kind, resource_id, request_id, action, user_id, project_id, start_time) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.kind, a.ResourceID, a.RequestID, a.Name, a.UserID, a.ProjectID, a.Start.UnixMicro())
	return err
}

// Go runs op in the background under the resource's lock, as the event
// of the action a ("" records nothing: work sov does on its own), then
// done with op's result (which sets the resource's state). Wait waits for
// every operation started so.
func (r *Runner) Go(a Action, event string, op func(ctx context.Context) error, done func(ctx context.Context, err error)) {
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		defer r.Lock(a.ResourceID)()
		ctx := context.Background()
		if event == "" {
			err := op(ctx)
			if done != nil {
				done(ctx, err)
			}
			return
		}
		if _, err := r.db.Exec(ctx, `INSERT INTO action_events (kind, resource_id, request_id, event, start_time) VALUES (?, ?, ?, ?, ?)`,
			r.kind, a.ResourceID, a.RequestID, event, time.Now().UnixMicro()); err != nil {
			r.log.Error("recording an action event", "resource", a.ResourceID, "event", event, "err", err)
		}
		err := op(ctx)
		result, traceback := "Success", ""
		if err != nil {
			result, traceback = "Error", err.Error()
		}
		if _, err := r.db.Exec(ctx, `UPDATE action_events SET finish_time = ?, result = ?, traceback = ? WHERE kind = ? AND resource_id = ? AND request_id = ? AND event = ?`,
			time.Now().UnixMicro(), result, traceback, r.kind, a.ResourceID, a.RequestID, event); err != nil {
			r.log.Error("recording an action event", "resource", a.ResourceID, "event", event, "err", err)
		}
		if done != nil {
			done(ctx, err)
		}
	}()
}

// Wait waits for the operations in flight.
func (r *Runner) Wait() { r.work.Wait() }

// Recover ends the events a stop of sov interrupted: as errors, so the
// record says what happened.
func (r *Runner) Recover(ctx context.Context) error {
	_, err := r.db.Exec(ctx, `UPDATE action_events SET finish_time = ?, result = 'Error', traceback = 'interrupted by a restart of sov' WHERE kind = ? AND finish_time = 0`,
		time.Now().UnixMicro(), r.kind)
	return err
}

// Forget removes the record of a resource that is gone.
func (r *Runner) Forget(ctx context.Context, id string) error {
	if _, err := r.db.Exec(ctx, `DELETE FROM action_events WHERE kind = ? AND resource_id = ?`, r.kind, id); err != nil {
		return err
	}
	_, err := r.db.Exec(ctx, `DELETE FROM actions WHERE kind = ? AND resource_id = ?`, r.kind, id)
	return err
}

func scanAction(row store.Scanner) (Action, error) {
	var a Action
	var start int64
	err := row.Scan(&a.ResourceID, &a.RequestID, &a.Name, &a.UserID, &a.ProjectID, &start)
	a.Start = time.UnixMicro(start).UTC()
	return a, err
}

const actionColumns = `resource_id, request_id, action, user_id, project_id, start_time`

// Actions lists a resource's actions, newest first.
func (r *Runner) Actions(ctx context.Context, id string) ([]Action, error) {
	rows, err := r.db.Query(ctx, `SELECT `+actionColumns+` FROM actions WHERE kind = ? AND resource_id = ? ORDER BY start_time DESC, request_id`, r.kind, id)
	if err != nil {
		return nil, err
	}
	return store.Collect(rows, scanAction)
}

// Action is one action of a resource with its events.
func (r *Runner) Action(ctx context.Context, id, requestID string) (Action, []Event, error) {
	a, err := scanAction(r.db.QueryRow(ctx, `SELECT `+actionColumns+` FROM actions WHERE kind = ? AND resource_id = ? AND request_id = ?`, r.kind, id, requestID))
	if err := store.Row(err); err != nil {
		return a, nil, err
	}
	rows, err := r.db.Query(ctx, `SELECT event, start_time, finish_time, result, traceback FROM action_events WHERE kind = ? AND resource_id = ? AND request_id = ? ORDER BY start_time`,
		r.kind, id, requestID)
	if err != nil {
		return a, nil, err
	}
	events, err := store.Collect(rows, func(row store.Scanner) (Event, error) {
		var e Event
		var start, finish int64
		err := row.Scan(&e.Name, &start, &finish, &e.Result, &e.Traceback)
		e.Start = time.UnixMicro(start).UTC()
		if finish != 0 {
			e.Finish = time.UnixMicro(finish).UTC()
		}
		return e, err
	})
	return a, events, err
}
