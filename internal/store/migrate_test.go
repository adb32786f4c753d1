package store

import (
	"testing"
	"testing/fstest"
)

// TestMigrationNumbers: the shipped migrations have distinct numbers, and a
// set with two files of one number is refused rather than half applied.
func TestMigrationNumbers(t *testing.T) {
	files, err := migrationFiles(migrations)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < len(files); i++ {
		if files[i].version <= files[i-1].version {
			t.Errorf("%s follows %s", files[i].base, files[i-1].base)
		}
	}
	dup := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1")},
		"migrations/0002_b.sql": {Data: []byte("SELECT 1")},
		"migrations/0002_c.sql": {Data: []byte("SELECT 1")},
	}
	if _, err := migrationFiles(dup); err == nil {
		t.Error("two migrations numbered 0002 were accepted")
	}
	if _, err := migrationFiles(fstest.MapFS{"migrations/x_a.sql": {Data: []byte("")}}); err == nil {
		t.Error("a migration without a number was accepted")
	}
}
