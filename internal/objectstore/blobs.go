package objectstore

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// blobs keeps object data as files under dir/<2 hex>/<id>. A blob is
// written to dir/tmp, fsynced and renamed into place (and the directory
// fsynced) before the metadata that names it is committed; so a crash
// leaves at worst an unreferenced file, which gc removes at start.
type blobs struct{ dir string }

func openBlobs(dir string) (*blobs, error) {
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o700); err != nil {
		return nil, err
	}
	for i := range 256 {
		if err := os.MkdirAll(filepath.Join(dir, fmt.Sprintf("%02x", i)), 0o700); err != nil {
			return nil, err
		}
	}
	return &blobs{dir: dir}, nil
}

func newBlobID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (b *blobs) path(id string) string { return filepath.Join(b.dir, id[:2], id) }

// open opens a stored blob for reading.
func (b *blobs) open(id string) (*os.File, error) { return os.Open(b.path(id)) }

// remove deletes a blob; a missing one is not an error.
func (b *blobs) remove(id string) {
	if id != "" {
		os.Remove(b.path(id))
	}
}

// pending is a blob being written.
type pending struct {
	*os.File
	id string
	b  *blobs
}

// create starts a new blob in the temporary directory.
func (b *blobs) create() (*pending, error) {
	id := newBlobID()
	f, err := os.OpenFile(filepath.Join(b.dir, "tmp", id), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	return &pending{File: f, id: id, b: b}, nil
}

// commit makes the blob durable under its id.
func (p *pending) commit() error {
	if err := p.Sync(); err != nil {
		p.abort()
		return err
	}
	if err := p.Close(); err != nil {
		p.abort()
		return err
	}
	final := p.b.path(p.id)
	if err := os.Rename(p.Name(), final); err != nil {
		os.Remove(p.Name())
		return err
	}
	d, err := os.Open(filepath.Dir(final))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// abort throws the unfinished blob away.
func (p *pending) abort() {
	p.Close()
	os.Remove(p.Name())
}

// gc removes temporary files and every blob for which used reports false.
func (b *blobs) gc(used func(id string) bool) (removed int, err error) {
	err = filepath.WalkDir(b.dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if filepath.Base(filepath.Dir(path)) == "tmp" || !used(d.Name()) {
			removed++
			return os.Remove(path)
		}
		return nil
	})
	return removed, err
}

// sink takes the stored bytes of a new object: in memory when they are to
// be kept in its row (inline, and at most inlineMax bytes of data), else in
// a new blob.
type sink struct {
	buf bytes.Buffer
	p   *pending
}

// newSink is a sink for size bytes of data.
func (s *Server) newSink(size int64, inline bool) (*sink, error) {
	k := &sink{}
	if inline && size <= inlineMax {
		k.buf.Grow(int(sealedSize(size)))
		return k, nil
	}
	var err error
	k.p, err = s.data.create()
	return k, err
}

func (k *sink) Write(b []byte) (int, error) {
	if k.p != nil {
		return k.p.Write(b)
	}
	return k.buf.Write(b)
}

// abort throws away what was written.
func (k *sink) abort() {
	if k.p != nil {
		k.p.abort()
	}
}

// done makes what was written durable: the data to keep in the row, or
// the committed blob's id.
func (k *sink) done() (inline []byte, blob string, err error) {
	if k.p == nil {
		return k.buf.Bytes(), "", nil
	}
	return nil, k.p.id, k.p.commit()
}
