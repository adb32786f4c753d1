package secrets

import (
	"context"
	"fmt"
	"strings"

	"github.com/sovcloud/sov/internal/store"
)

// Sealed names a column of sealed values, for Reseal.
type Sealed struct {
	Table, Column string
	// Key are the columns that name a row; Where, when set, limits the rows.
	Key   []string
	Where string
	// Bind is the context a row's value is sealed for.
	Bind func(key []string) string
	// Open reads a stored value; nil opens it under Bind's context.
	Open func(key []string, stored string) ([]byte, error)
}

// Reseal seals under the primary master key every value of the column
// that is not sealed under it (sealed under an older master key, or stored
// as earlier versions did), in one transaction.
func (k *Keyring) Reseal(ctx context.Context, db *store.DB, c Sealed) error {
	open := c.Open
	if open == nil {
		open = func(key []string, stored string) ([]byte, error) { return k.Open(stored, c.Bind(key)) }
	}
	cols := strings.Join(c.Key, ", ")
	query := `SELECT ` + cols + `, ` + c.Column + ` FROM ` + c.Table
	if c.Where != "" {
		query += ` WHERE ` + c.Where
	}
	match := strings.Join(c.Key, " = ? AND ") + " = ?"
	return db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return err
		}
		type stale struct {
			key   []string
			plain []byte
		}
		var todo []stale
		for rows.Next() {
			key := make([]string, len(c.Key))
			dest := make([]any, 0, len(key)+1)
			for i := range key {
				dest = append(dest, &key[i])
			}
			var stored string
			if err := rows.Scan(append(dest, &stored)...); err != nil {
				rows.Close()
				return err
			}
			if k.Current(stored) {
				continue
			}
			b, err := open(key, stored)
			if err != nil {
				rows.Close()
				return fmt.Errorf("secrets: %s %v: %w", c.Table, key, err)
			}
			todo = append(todo, stale{key, b})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, s := range todo {
			args := []any{k.Seal(s.plain, c.Bind(s.key))}
			for _, v := range s.key {
				args = append(args, v)
			}
			if _, err := tx.Exec(ctx, `UPDATE `+c.Table+` SET `+c.Column+` = ? WHERE `+match, args...); err != nil {
				return err
			}
		}
		return nil
	})
}
