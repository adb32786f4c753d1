package backup

import (
	"bytes"
	"context"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
)

// TestFullAndIncremental backs up 5.5 chunks of data with a hole, changes
// one chunk and backs up again incrementally: the second backup stores
// only that chunk, both restore to exactly their data, a corrupted chunk
// fails the restore, and deleting the incremental backup leaves the full
// one whole.
func TestFullAndIncremental(t *testing.T) {
	ctx := context.Background()
	repo := Dir(t.TempDir())
	size := int64(5*ChunkSize + ChunkSize/2)
	data := make([]byte, size)
	rand.New(rand.NewSource(1)).Read(data)
	clear(data[2*ChunkSize : 3*ChunkSize]) // a hole: stored as nothing
	full, err := Create(ctx, repo, bytes.NewReader(data), size, "vol", "full", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Chunks) != 6 || full.Chunks[2].Object != "" || full.Objects() != 6 {
		t.Fatalf("full backup: %d chunks, %d objects, chunk 2 in %q", len(full.Chunks), full.Objects(), full.Chunks[2].Object)
	}
	changed := bytes.Clone(data)
	copy(changed[4*ChunkSize+100:], "a change in the fifth chunk")
	incr, err := Create(ctx, repo, bytes.NewReader(changed), size, "vol", "incr", full)
	if err != nil {
		t.Fatal(err)
	}
	if incr.Objects() != 2 || incr.Parent != "full" || incr.Chunks[0].Object != full.Chunks[0].Object {
		t.Errorf("incremental backup: %d objects, parent %q, chunk 0 in %q", incr.Objects(), incr.Parent, incr.Chunks[0].Object)
	}
	restore := func(id string, want []byte) error {
		t.Helper()
		m, err := Load(ctx, repo, "vol", id)
		if err != nil {
			return err
		}
		out, err := os.Create(filepath.Join(t.TempDir(), "restored"))
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		out.Truncate(m.Size)
		if err := Restore(ctx, repo, m, out); err != nil {
			return err
		}
		got, _ := os.ReadFile(out.Name())
		if !bytes.Equal(got, want) {
			t.Errorf("backup %s restores other data", id)
		}
		return nil
	}
	if err := restore("full", data); err != nil {
		t.Fatal(err)
	}
	if err := restore("incr", changed); err != nil {
		t.Fatal(err)
	}
	if err := repo.Put(ctx, full.Chunks[1].Object, bytes.Repeat([]byte{1}, ChunkSize)); err != nil {
		t.Fatal(err)
	}
	if err := restore("full", data); err == nil {
		t.Error("a corrupted chunk restored")
	}
	if err := repo.Put(ctx, full.Chunks[1].Object, data[ChunkSize:2*ChunkSize]); err != nil {
		t.Fatal(err)
	}
	if err := Delete(ctx, repo, "vol", "incr"); err != nil {
		t.Fatal(err)
	}
	if keys, _ := repo.List(ctx, "volume_vol/incr/"); len(keys) != 0 {
		t.Errorf("objects left of the deleted backup: %v", keys)
	}
	if err := restore("full", data); err != nil {
		t.Errorf("the full backup after its incremental's delete: %v", err)
	}
	if _, err := Load(ctx, repo, "vol", "incr"); !os.IsNotExist(err) {
		t.Errorf("the deleted backup's manifest: %v", err)
	}
}
