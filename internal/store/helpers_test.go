package store_test

import (
	"context"
	"testing"

	"github.com/sovcloud/sov/internal/store"
)

// TestInsertAndCollect: Insert writes each value to its column; Collect
// reads every row and closes them.
func TestInsertAndCollect(t *testing.T) {
	ctx := context.Background()
	db := open(t)
	ids := []string{"store-helpers-a", "store-helpers-b"}
	for _, id := range ids {
		db.Exec(ctx, `DELETE FROM domains WHERE id = ?`, id)
		t.Cleanup(func() { db.Exec(ctx, `DELETE FROM domains WHERE id = ?`, id) })
		if err := store.Insert(ctx, db, "domains", store.Values{}.Set("enabled", true).Set("name", id+"-name").Set("id", id)); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := db.Query(ctx, `SELECT id, name FROM domains WHERE id IN (?, ?) ORDER BY id`, ids[0], ids[1])
	if err != nil {
		t.Fatal(err)
	}
	got, err := store.Collect(rows, func(row store.Scanner) ([2]string, error) {
		var v [2]string
		return v, row.Scan(&v[0], &v[1])
	})
	if err != nil || len(got) != 2 || got[0] != [2]string{ids[0], ids[0] + "-name"} || got[1][1] != ids[1]+"-name" {
		t.Errorf("collected %v, %v", got, err)
	}
}
