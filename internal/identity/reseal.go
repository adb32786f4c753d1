package identity

import (
	"context"
	"fmt"

	"github.com/sovcloud/sov/internal/secrets"
	"github.com/sovcloud/sov/internal/store"
)

// reseal seals, under the primary master key, every value of a table's
// column (keyed by its id column) that is not sealed under it: open reads
// the stored value, bind names the row the new seal is bound to.
func reseal(ctx context.Context, db *store.DB, kek *secrets.Keyring, table, column string,
	bind func(id string) string, open func(id, stored string) ([]byte, error)) error {
	return db.InTx(ctx, func(tx *store.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, `+column+` FROM `+table)
		if err != nil {
			return err
		}
		stale := map[string][]byte{}
		for rows.Next() {
			var id, stored string
			if err := rows.Scan(&id, &stored); err != nil {
				rows.Close()
				return err
			}
			if kek.Current(stored) {
				continue
			}
			b, err := open(id, stored)
			if err != nil {
				rows.Close()
				return fmt.Errorf("identity: %s %s: %w", table, id, err)
			}
			stale[id] = b
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for id, b := range stale {
			if _, err := tx.Exec(ctx, `UPDATE `+table+` SET `+column+` = ? WHERE id = ?`, kek.Seal(b, bind(id)), id); err != nil {
				return err
			}
		}
		return nil
	})
}
