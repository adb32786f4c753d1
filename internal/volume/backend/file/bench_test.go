package file

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sovcloud/sov/internal/bench"
	"github.com/sovcloud/sov/internal/volume/backup"
)

// BenchmarkVolumeData measures what the file driver and backups cost on
// 1 GiB of data beside the disk itself: the baseline writes 1 GiB to a
// file and syncs it (disk-write); then a volume is made from a 1 GiB raw
// image (import), snapshotted (snapshot), exported and backed up into a
// directory repository in 4 MiB chunks (backup), and restored to a volume
// from the backup (restore). Each reports MB/s of the volume's size:
//
//	go test -run '^$' -bench VolumeData -benchtime 3x ./internal/volume/backend/file
func BenchmarkVolumeData(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	const size = int64(1) << 30
	// An image with data in every chunk (holes would cost nothing).
	image := filepath.Join(dir, "image.raw")
	f, err := os.Create(image)
	if err != nil {
		b.Fatal(err)
	}
	block := bench.Payload(1 << 20)
	for off := int64(0); off < size; off += int64(len(block)) {
		block[0], block[1] = byte(off>>20), byte(off>>28) // no two blocks alike
		if _, err := f.Write(block); err != nil {
			b.Fatal(err)
		}
	}
	f.Sync()
	d, err := Open(filepath.Join(dir, "volumes"))
	if err != nil {
		b.Fatal(err)
	}
	repo := backup.Dir(filepath.Join(dir, "backups"))
	const vol, snap, restored = "0a0a0a0a-0000-4000-8000-00000000000a", "05050505-0000-4000-8000-000000000005", "0b0b0b0b-0000-4000-8000-00000000000b"
	b.Run("disk-write", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			if _, err := bench.DiskWrite(dir, size); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("import", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			if err := d.Import(ctx, vol, f, "raw", size, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("snapshot", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			if err := d.Snapshot(ctx, snap, vol); err != nil {
				b.Fatal(err)
			}
		}
	})
	var m *backup.Manifest
	b.Run("backup", func(b *testing.B) {
		b.SetBytes(size)
		for i := range b.N {
			raw, err := d.Export(ctx, vol, dir)
			if err != nil {
				b.Fatal(err)
			}
			if m, err = backup.Create(ctx, repo, raw, size, vol, "backup", nil); err != nil {
				b.Fatal(err)
			}
			raw.Close()
			if i < b.N-1 {
				backup.Delete(ctx, repo, vol, "backup")
			}
		}
	})
	b.Run("restore", func(b *testing.B) {
		b.SetBytes(size)
		for range b.N {
			raw, err := os.CreateTemp(dir, "restore-*")
			if err != nil {
				b.Fatal(err)
			}
			os.Remove(raw.Name())
			raw.Truncate(size)
			if err := backup.Restore(ctx, repo, m, raw); err != nil {
				b.Fatal(err)
			}
			if err := d.Import(ctx, restored, raw, "raw", size, nil); err != nil {
				b.Fatal(err)
			}
			raw.Close()
		}
	})
	// What came back is what went in.
	back, err := d.Export(ctx, restored, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer back.Close()
	got, want := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, off := range []int64{0, size / 2, size - 1<<20} {
		back.ReadAt(got, off)
		f.ReadAt(want, off)
		if !bytes.Equal(got, want) {
			b.Fatalf("the restored volume differs from the image at %d", off)
		}
	}
}
