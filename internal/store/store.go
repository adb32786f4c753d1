// Package store is the one data-access layer of sov: a database/sql handle over
// SQLite (pure Go, the default) or PostgreSQL (pgx), with versioned migrations
// applied at open. Queries are written once with "?" placeholders; the store
// rewrites them for PostgreSQL.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// ErrNotFound is returned when a row that a caller asked for does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a write breaks a uniqueness or reference constraint.
var ErrConflict = errors.New("store: conflict")

// ErrUnavailable is returned when the store cannot be reached or cannot
// do its work now (a PostgreSQL server down or shutting down, its
// connection cut, an I/O error of SQLite): the request may succeed later.
var ErrUnavailable = errors.New("store: unavailable")

// DB is an open store. It is safe for concurrent use.
type DB struct {
	sql      *sql.DB
	postgres bool

	stmts sync.Map // query -> *sql.Stmt, prepared once
	nstmt atomic.Int32

	batches   chan *batchCall
	batchOnce sync.Once
	closed    chan struct{}
}

// maxStmts bounds the prepared statement cache; queries beyond it are
// prepared each time they run.
const maxStmts = 2000

// stmt returns the prepared statement for a (rebound) query, or nil when
// the cache is full or preparing fails (the caller then runs it unprepared).
func (db *DB) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := db.stmts.Load(query); ok {
		return st.(*sql.Stmt)
	}
	if db.nstmt.Load() >= maxStmts {
		return nil
	}
	st, err := db.sql.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if prev, loaded := db.stmts.LoadOrStore(query, st); loaded {
		st.Close()
		return prev.(*sql.Stmt)
	}
	db.nstmt.Add(1)
	return st
}

// Open opens the store named by dsn and applies pending migrations. A dsn that
// starts with "postgres://" or "postgresql://" selects PostgreSQL; anything
// else is a SQLite file path.
func Open(ctx context.Context, dsn string) (*DB, error) {
	db := &DB{batches: make(chan *batchCall), closed: make(chan struct{})}
	var err error
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		db.postgres = true
		db.sql, err = sql.Open("pgx", dsn)
	} else {
		// WAL lets readers run beside the single writer; busy_timeout queues
		// writers instead of failing them; synchronous=FULL makes a commit durable.
		db.sql, err = sql.Open("sqlite", "file:"+dsn+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate")
		if err == nil {
			db.sql.SetMaxOpenConns(8)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.sql.Close()
		return nil, fmt.Errorf("store: connect: %w", classify(err))
	}
	if err := db.migrate(ctx); err != nil {
		db.sql.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the store.
func (db *DB) Close() error {
	close(db.closed)
	db.stmts.Range(func(_, st any) bool {
		st.(*sql.Stmt).Close()
		return true
	})
	return db.sql.Close()
}

// Postgres reports whether the store runs on PostgreSQL.
func (db *DB) Postgres() bool { return db.postgres }

// Querier is what both *DB and *Tx offer for running statements.
type Querier interface {
	Exec(ctx context.Context, query string, args ...any) (sql.Result, error)
	Query(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRow(ctx context.Context, query string, args ...any) *sql.Row
}

// Exec runs a statement that returns no rows.
func (db *DB) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := db.rebind(query)
	if st := db.stmt(ctx, q); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, classify(err)
	}
	res, err := db.sql.ExecContext(ctx, q, args...)
	return res, classify(err)
}

// Query runs a statement that returns rows.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := db.rebind(query)
	if st := db.stmt(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, classify(err)
	}
	rows, err := db.sql.QueryContext(ctx, q, args...)
	return rows, classify(err)
}

// QueryRow runs a statement that returns at most one row.
func (db *DB) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := db.rebind(query)
	if st := db.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.sql.QueryRowContext(ctx, q, args...)
}

// Tx is a transaction; see [DB.InTx].
type Tx struct {
	tx *sql.Tx
	db *DB
}

// Lock serialises the transactions that take the same key until they
// end: a check and the write it allows (a quota, a status) cannot
// interleave with another's. SQLite's write transactions are serial
// already; PostgreSQL takes a transaction-level advisory lock.
func (t *Tx) Lock(ctx context.Context, key string) error {
	if !t.db.postgres {
		return nil
	}
	_, err := t.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(?))`, key)
	return err
}

// prepared returns the cached statement for query bound to the
// transaction, or nil. A query not cached yet runs unprepared and is
// prepared aside for next time: preparing it here would wait for a pool
// connection, which the transactions queued behind this one's write lock
// may all hold (each waits for the lock this one keeps until it can go
// on), and nothing would move until the busy timeout.
func (t *Tx) prepared(ctx context.Context, query string) *sql.Stmt {
	if st, ok := t.db.stmts.Load(query); ok {
		return t.tx.StmtContext(ctx, st.(*sql.Stmt))
	}
	go t.db.stmt(context.Background(), query)
	return nil
}

// Exec runs a statement that returns no rows inside the transaction.
func (t *Tx) Exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	q := t.db.rebind(query)
	if st := t.prepared(ctx, q); st != nil {
		res, err := st.ExecContext(ctx, args...)
		return res, classify(err)
	}
	res, err := t.tx.ExecContext(ctx, q, args...)
	return res, classify(err)
}

// Query runs a statement that returns rows inside the transaction.
func (t *Tx) Query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := t.db.rebind(query)
	if st := t.prepared(ctx, q); st != nil {
		rows, err := st.QueryContext(ctx, args...)
		return rows, classify(err)
	}
	rows, err := t.tx.QueryContext(ctx, q, args...)
	return rows, classify(err)
}

// QueryRow runs a statement that returns at most one row inside the transaction.
func (t *Tx) QueryRow(ctx context.Context, query string, args ...any) *sql.Row {
	q := t.db.rebind(query)
	if st := t.prepared(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// InTx runs fn in a transaction and commits it when fn returns nil.
func (db *DB) InTx(ctx context.Context, fn func(tx *Tx) error) error {
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return classify(err)
	}
	if err := fn(&Tx{tx: sqlTx, db: db}); err != nil {
		sqlTx.Rollback()
		return err
	}
	return classify(sqlTx.Commit())
}

// Row maps sql.ErrNoRows from a single-row scan to [ErrNotFound].
func Row(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return classify(err)
}

// Affected returns ErrNotFound when a write touched no row.
func Affected(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// rebind turns "?" placeholders into PostgreSQL's "$n".
func (db *DB) rebind(q string) string {
	if !db.postgres || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// classify wraps constraint violations of either engine in ErrConflict,
// and failures to reach the store in ErrUnavailable.
func classify(err error) error {
	if err == nil {
		return nil
	}
	if unreachable(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_CONSTRAINT {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "23") {
		return fmt.Errorf("%w: %v", ErrConflict, err)
	}
	return err
}

// Unavailable reports whether err means the store could not be reached
// (whether or not the store's methods classified it already).
func Unavailable(err error) bool {
	return err != nil && (errors.Is(err, ErrUnavailable) || unreachable(err))
}

// unreachable recognises the errors of a store that is not there: a
// closed handle, a connection that could not be made or was cut, the
// server's "connection exception", shutdown and overload classes, and
// SQLite's I/O, open and lock-timeout errors.
func unreachable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(err.Error(), "sql: database is closed") {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || pe.Code == "53300"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_BUSY:
			return true
		}
	}
	return false
}

// Scanner is a row to scan: *sql.Rows or *sql.Row.
type Scanner interface{ Scan(dest ...any) error }

// Collect scans every row with scan, closes the rows and reports the
// error of the query, a scan or the iteration.
func Collect[T any](rows *sql.Rows, scan func(Scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, classify(rows.Err())
}

// Column runs a query of one text column and returns its values.
func Column(ctx context.Context, db Querier, query string, args ...any) ([]string, error) {
	rows, err := db.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	return Collect(rows, func(r Scanner) (string, error) { var v string; return v, r.Scan(&v) })
}

// Values are the columns of a row and their values, side by side, so a
// statement's column list and arguments cannot drift apart.
type Values []struct {
	Col string
	Val any
}

// Set appends a column and its value.
func (v Values) Set(col string, val any) Values {
	return append(v, struct {
		Col string
		Val any
	}{col, val})
}

// Insert inserts one row of v into table.
func Insert(ctx context.Context, q Querier, table string, v Values) error {
	cols, ph, args := make([]string, len(v)), make([]string, len(v)), make([]any, len(v))
	for i, c := range v {
		cols[i], ph[i], args[i] = c.Col, "?", c.Val
	}
	_, err := q.Exec(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES (`+strings.Join(ph, ", ")+`)`, args...)
	return err
}
