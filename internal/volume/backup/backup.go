// Package backup keeps volume backups as objects in a repository: sov's
// own S3 by default (any S3 endpoint, as Cinder's S3 backup driver), or a
// directory. A backup is the volume's raw data cut in chunks of
// ChunkSize, each stored as an object unless it is all zeros, and a
// manifest object that lists the chunks with their SHA-256; an
// incremental backup stores only the chunks that differ from its
// parent's and names the parent's objects for the others. Restores check
// every chunk against its hash.
package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// ChunkSize is the size of a backup's chunks.
const ChunkSize = 4 << 20

// Repository stores a backup's objects by key.
type Repository interface {
	Put(ctx context.Context, key string, data []byte) error
	// Get returns an object; a missing one is an error wrapping
	// os.ErrNotExist.
	Get(ctx context.Context, key string) ([]byte, error)
	Delete(ctx context.Context, key string) error
	// List is the keys that begin with prefix.
	List(ctx context.Context, prefix string) ([]string, error)
}

// Chunk is one chunk of a backup: its hash and the object holding it (""
// for a chunk of zeros, which is stored as nothing).
type Chunk struct {
	SHA256 string `json:"sha256"`
	Object string `json:"object,omitempty"`
}

// Manifest describes a backup: the volume's size in bytes and its chunks.
type Manifest struct {
	Version   int     `json:"version"`
	Backup    string  `json:"backup"`
	Volume    string  `json:"volume"`
	Parent    string  `json:"parent,omitempty"`
	Size      int64   `json:"size"`
	ChunkSize int64   `json:"chunk_size"`
	Chunks    []Chunk `json:"chunks"`
}

// Objects is how many objects the backup itself stored (its manifest too).
func (m *Manifest) Objects() int {
	n := 1
	for _, c := range m.Chunks {
		if c.Object != "" && m.own(c.Object) {
			n++
		}
	}
	return n
}

// prefix is where a backup's objects are: under its volume, then its id.
func prefix(volume, backup string) string { return "volume_" + volume + "/" + backup + "/" }

func (m *Manifest) own(key string) bool {
	p := prefix(m.Volume, m.Backup)
	return len(key) > len(p) && key[:len(p)] == p
}

// ManifestKey is the key of a backup's manifest.
func ManifestKey(volume, backup string) string { return prefix(volume, backup) + "manifest" }

var zeros = make([]byte, ChunkSize)

// fullZeroSum is the hash of a whole chunk of zeros.
var fullZeroSum = func() string { sum := sha256.Sum256(zeros); return hex.EncodeToString(sum[:]) }()

// zeroSum is the hash of n zero bytes.
func zeroSum(n int) string {
	if n == ChunkSize {
		return fullZeroSum
	}
	sum := sha256.Sum256(zeros[:n])
	return hex.EncodeToString(sum[:])
}

// hole reports whether the n bytes at off of src are a hole of a sparse
// file (no data there: they read as zeros), so they need not be read.
func hole(src io.ReaderAt, off, n int64) bool {
	f, ok := src.(*os.File)
	if !ok {
		return false
	}
	next, err := unix.Seek(int(f.Fd()), off, unix.SEEK_DATA)
	if errors.Is(err, unix.ENXIO) {
		return true // no data from off to the end
	}
	return err == nil && next >= off+n
}

// Create backs up the size bytes of src (the volume's raw data) as backup
// id of volume, incremental to parent if it is not nil, and returns the
// manifest, stored last (a backup without it is incomplete).
func Create(ctx context.Context, repo Repository, src io.ReaderAt, size int64, volume, id string, parent *Manifest) (*Manifest, error) {
	m := &Manifest{Version: 1, Backup: id, Volume: volume, Size: size, ChunkSize: ChunkSize}
	if parent != nil {
		if parent.Volume != volume || parent.ChunkSize != ChunkSize {
			return nil, errors.New("backup: the parent is of another volume or chunk size")
		}
		m.Parent = parent.Backup
	}
	buf := make([]byte, ChunkSize)
	for i := 0; int64(i)*ChunkSize < size; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		off := int64(i) * ChunkSize
		n := int(min(ChunkSize, size-off))
		var c Chunk
		if hole(src, off, int64(n)) {
			clear(buf[:n]) // a hole of a sparse file: zeros, unread
			c.SHA256 = zeroSum(n)
		} else {
			if _, err := src.ReadAt(buf[:n], off); err != nil && !(errors.Is(err, io.EOF)) {
				return nil, err
			}
			sum := sha256.Sum256(buf[:n])
			c.SHA256 = hex.EncodeToString(sum[:])
		}
		switch {
		case parent != nil && i < len(parent.Chunks) && parent.Chunks[i].SHA256 == c.SHA256:
			c.Object = parent.Chunks[i].Object // unchanged: the parent's object
		case bytes.Equal(buf[:n], zeros[:n]):
		default:
			c.Object = prefix(volume, id) + "chunk-" + strconv.Itoa(i)
			if err := repo.Put(ctx, c.Object, buf[:n]); err != nil {
				return nil, err
			}
		}
		m.Chunks = append(m.Chunks, c)
	}
	b, _ := json.Marshal(m)
	if err := repo.Put(ctx, ManifestKey(volume, id), b); err != nil {
		return nil, err
	}
	return m, nil
}

// Load reads a backup's manifest.
func Load(ctx context.Context, repo Repository, volume, id string) (*Manifest, error) {
	b, err := repo.Get(ctx, ManifestKey(volume, id))
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("backup: manifest of %s: %w", id, err)
	}
	if m.Backup != id || m.Volume != volume || m.ChunkSize <= 0 || int64(len(m.Chunks)) != (m.Size+m.ChunkSize-1)/m.ChunkSize {
		return nil, fmt.Errorf("backup: the manifest of %s does not describe it", id)
	}
	return &m, nil
}

// Restore writes a backup's data to dst (from offset 0, m.Size bytes;
// zero chunks are skipped, so dst must read zeros there, as a new sparse
// file does), checking each chunk against its hash.
func Restore(ctx context.Context, repo Repository, m *Manifest, dst io.WriterAt) error {
	for i, c := range m.Chunks {
		if err := ctx.Err(); err != nil {
			return err
		}
		off := int64(i) * m.ChunkSize
		n := min(m.ChunkSize, m.Size-off)
		if c.Object == "" {
			if c.SHA256 != zeroSum(int(n)) {
				return fmt.Errorf("backup: chunk %d of %s is stored as zeros but does not hash so", i, m.Backup)
			}
			continue
		}
		data, err := repo.Get(ctx, c.Object)
		if err != nil {
			return err
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.SHA256 || int64(len(data)) != n {
			return fmt.Errorf("backup: chunk %d of %s does not match its hash", i, m.Backup)
		}
		if _, err := dst.WriteAt(data, off); err != nil {
			return err
		}
	}
	return nil
}

// Delete removes a backup's own objects, complete or not (its parent's
// stay): the manifest first, so what a crash leaves is an incomplete
// backup, then the rest.
func Delete(ctx context.Context, repo Repository, volume, id string) error {
	if err := repo.Delete(ctx, ManifestKey(volume, id)); err != nil {
		return err
	}
	keys, err := repo.List(ctx, prefix(volume, id))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if err := repo.Delete(ctx, k); err != nil {
			return err
		}
	}
	return nil
}
