package store

import "testing"

func TestRebind(t *testing.T) {
	db := &DB{postgres: true}
	got := db.rebind(`SELECT a FROM t WHERE b = ? AND c IN (?, ?)`)
	want := `SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)`
	if got != want {
		t.Errorf("rebind = %q, want %q", got, want)
	}
	db.postgres = false
	if got := db.rebind(`x = ?`); got != `x = ?` {
		t.Errorf("sqlite rebind = %q, want unchanged", got)
	}
}
