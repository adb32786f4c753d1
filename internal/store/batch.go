package store

import (
	"context"
	"errors"
)

// ErrClosed is returned by Batch once the store is closed.
var ErrClosed = errors.New("store: closed")

// maxBatch bounds how many Batch calls share one transaction.
const maxBatch = 128

type batchCall struct {
	ctx  context.Context
	fn   func(tx *Tx) error
	done chan error
}

// Batch runs fn in a transaction that it shares with the other Batch calls
// waiting at the same time (group commit): one commit, and so one fsync,
// makes all of them durable. Each fn runs in a savepoint of its own, so its
// error undoes only its own changes. Batch returns fn's error, or the
// commit's; when it returns nil the changes are committed.
func (db *DB) Batch(ctx context.Context, fn func(tx *Tx) error) error {
	db.batchOnce.Do(func() { go db.batcher() })
	c := &batchCall{ctx: ctx, fn: fn, done: make(chan error, 1)}
	select {
	case db.batches <- c:
	case <-db.closed:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-c.done
}

// batcher runs waiting Batch calls, as many as are queued, one transaction at a time.
func (db *DB) batcher() {
	for {
		var calls []*batchCall
		select {
		case c := <-db.batches:
			calls = append(calls, c)
		case <-db.closed:
			return
		}
	queued:
		for len(calls) < maxBatch {
			select {
			case c := <-db.batches:
				calls = append(calls, c)
			default:
				break queued
			}
		}
		db.runBatch(calls)
	}
}

func (db *DB) runBatch(calls []*batchCall) {
	results := make([]error, len(calls))
	finish := func() {
		for i, c := range calls {
			c.done <- results[i]
		}
	}
	defer finish()
	sqlTx, err := db.sql.BeginTx(context.Background(), nil)
	if err != nil {
		for i := range results {
			results[i] = classify(err)
		}
		return
	}
	tx := &Tx{tx: sqlTx, db: db}
	ok := 0
	for i, c := range calls {
		if err := c.ctx.Err(); err != nil {
			results[i] = err
			continue
		}
		if _, err := sqlTx.Exec(`SAVEPOINT batch_call`); err != nil {
			results[i] = classify(err)
			continue
		}
		if err := c.fn(tx); err != nil {
			results[i] = err
			if _, rerr := sqlTx.Exec(`ROLLBACK TO SAVEPOINT batch_call`); rerr != nil {
				// The transaction is unusable: fail everything in it.
				sqlTx.Rollback()
				for j := range results {
					if results[j] == nil {
						results[j] = classify(rerr)
					}
				}
				return
			}
		} else {
			ok++
		}
		if _, err := sqlTx.Exec(`RELEASE SAVEPOINT batch_call`); err != nil && results[i] == nil {
			results[i] = classify(err)
		}
	}
	if ok == 0 {
		sqlTx.Rollback()
		return
	}
	if err := sqlTx.Commit(); err != nil {
		for i := range results {
			if results[i] == nil {
				results[i] = classify(err)
			}
		}
	}
}
