package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies, in order and each in its own transaction, every file in
// migrations/ whose number is above the recorded schema version.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	if db.postgres {
		// Several servers may start at once against one database.
		if _, err := db.Exec(ctx, `SELECT pg_advisory_lock(7301)`); err != nil {
			return fmt.Errorf("store: migrate lock: %w", err)
		}
		defer db.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(7301)`)
	}
	var current int
	if err := db.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_version`).Scan(&current); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	files, err := migrationFiles(migrations)
	if err != nil {
		return err
	}
	for _, m := range files {
		name, base, version := m.path, m.base, m.version
		if version <= current {
			continue
		}
		raw, err := fs.ReadFile(migrations, name)
		if err != nil {
			return err
		}
		// Text compared byte by byte (SQLite's default; PostgreSQL needs
		// "C") and binary data are spelled differently by the two engines.
		body := strings.NewReplacer(
			"/*BYTEWISE*/", map[bool]string{true: `COLLATE "C"`, false: ""}[db.postgres],
			"/*BINARY*/", map[bool]string{true: "BYTEA", false: "BLOB"}[db.postgres],
		).Replace(string(raw))
		err = db.InTx(ctx, func(tx *Tx) error {
			for _, stmt := range strings.Split(body, ";\n") {
				if strings.TrimSpace(stmt) == "" {
					continue
				}
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return err
				}
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES (?)`, version)
			return err
		})
		if err != nil {
			return fmt.Errorf("store: migration %s: %w", base, err)
		}
	}
	return nil
}

// migrationFile is one file of migrations/.
type migrationFile struct {
	path, base string
	version    int
}

// migrationFiles lists the migrations in order. Two files with one number
// are an error: on a database past that number the second would be skipped
// without a word.
func migrationFiles(fsys fs.FS) ([]migrationFile, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migrationFile
	seen := map[int]string{}
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("store: migration %s: name must start with a number", base)
		}
		if other, dup := seen[version]; dup {
			return nil, fmt.Errorf("store: migrations %s and %s have the same number", other, base)
		}
		seen[version] = base
		out = append(out, migrationFile{path: name, base: base, version: version})
	}
	return out, nil
}
