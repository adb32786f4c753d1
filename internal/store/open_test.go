package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sovcloud/sov/internal/store"
)

// open opens a store on SQLite in a temp dir, or on the PostgreSQL database
// SOV_TEST_POSTGRES names (tables are shared there, so tests use their own names).
func open(t *testing.T) *store.DB {
	t.Helper()
	dsn := os.Getenv("SOV_TEST_POSTGRES")
	if dsn == "" {
		dsn = filepath.Join(t.TempDir(), "sov.db")
	}
	db, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenMigratesOnceAndClassifiesErrors(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	// Opening again applies nothing new.
	var versions int
	if err := db.QueryRow(ctx, `SELECT COUNT(*) FROM schema_version`).Scan(&versions); err != nil || versions < 1 {
		t.Fatalf("schema_version rows = %d, %v", versions, err)
	}
	id := "store-test-" + t.Name()
	db.Exec(ctx, `DELETE FROM domains WHERE id = ?`, id)
	t.Cleanup(func() { db.Exec(ctx, `DELETE FROM domains WHERE id = ?`, id) })
	if _, err := db.Exec(ctx, `INSERT INTO domains (id, name, enabled) VALUES (?, ?, ?)`, id, id, true); err != nil {
		t.Fatal(err)
	}
	_, err := db.Exec(ctx, `INSERT INTO domains (id, name, enabled) VALUES (?, ?, ?)`, id, id, true)
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate insert = %v, want ErrConflict", err)
	}
	var name string
	err = store.Row(db.QueryRow(ctx, `SELECT name FROM domains WHERE id = ?`, "missing").Scan(&name))
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing row = %v, want ErrNotFound", err)
	}
	// A failed transaction leaves nothing behind.
	boom := errors.New("boom")
	err = db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE domains SET name = ? WHERE id = ?`, "renamed", id); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx = %v, want boom", err)
	}
	db.QueryRow(ctx, `SELECT name FROM domains WHERE id = ?`, id).Scan(&name)
	if name != id {
		t.Errorf("name after rolled back update = %q, want %q", name, id)
	}
}

func TestReopen(t *testing.T) {
	if os.Getenv("SOV_TEST_POSTGRES") != "" {
		t.Skip("covered by TestOpenMigratesOnceAndClassifiesErrors on the shared database")
	}
	path := filepath.Join(t.TempDir(), "sov.db")
	for range 2 {
		db, err := store.Open(context.Background(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		db.Close()
	}
}

// TestUnavailable: a PostgreSQL server that is not there, a closed store
// and (on PostgreSQL) a connection the server ends are ErrUnavailable, not
// "not found" or an internal error.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	_, err := store.Open(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("open of a PostgreSQL that is not there: %v", err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "closed.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = db.Exec(ctx, `SELECT 1`)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("a closed store: %v", err)
	}
	var one int
	if err := db.QueryRow(ctx, `SELECT 1`).Scan(&one); !store.Unavailable(err) || errors.Is(store.Row(err), store.ErrNotFound) {
		t.Errorf("a row from a closed store: %v", err)
	}
	if store.Unavailable(store.ErrNotFound) || store.Unavailable(store.ErrConflict) {
		t.Error("not found or conflict counted as unavailable")
	}
	if dsn := os.Getenv("SOV_TEST_POSTGRES"); dsn != "" {
		pg := open(t)
		// The server ends this very connection, as a shutdown would.
		err := pg.InTx(ctx, func(tx *store.Tx) error {
			_, err := tx.Exec(ctx, `SELECT pg_terminate_backend(pg_backend_pid())`)
			return err
		})
		if !store.Unavailable(err) {
			t.Errorf("a connection the server ended: %v", err)
		}
	}
}
