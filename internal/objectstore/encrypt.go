package objectstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"sort"
	"sync"
)

// Encrypted object data is a sequence of segments: one for an object
// written at once, one per part for an object a multipart upload made.
// Each segment starts with a random salt; its chunks are sealed with
// AES-256-GCM under HMAC-SHA256(data key, salt), so no two segments of the
// same data key share a key, even when a part is uploaded again. A chunk
// holds chunkSize bytes of plaintext (the last fewer) and its nonce is the
// chunk's index with a flag on the last one (the STREAM construction), so
// chunks cannot be reordered, dropped or cut off unnoticed. A reader opens
// only the chunks a range touches.
const (
	chunkSize = 64 << 10
	saltSize  = 16
	tagSize   = 16
)

var errTampered = errors.New("objectstore: encrypted object data does not authenticate")

// sealedSize is the size on disk of a segment holding n bytes.
func sealedSize(n int64) int64 {
	chunks := max((n+chunkSize-1)/chunkSize, 1)
	return saltSize + n + chunks*tagSize
}

func segmentAEAD(dataKey, salt []byte) cipher.AEAD {
	m := hmac.New(sha256.New, dataKey)
	m.Write(salt)
	block, _ := aes.NewCipher(m.Sum(nil))
	aead, _ := cipher.NewGCM(block)
	return aead
}

func chunkNonce(index int64, last bool) []byte {
	var nonce [12]byte
	binary.BigEndian.PutUint64(nonce[:8], uint64(index))
	if last {
		nonce[11] = 1
	}
	return nonce[:]
}

// sealer encrypts one segment as it is written. A full chunk is sealed
// when the next byte arrives, so the last one is known without knowing
// the size beforehand.
type sealer struct {
	w     io.Writer
	aead  cipher.AEAD
	buf   []byte
	index int64
}

// newSealer starts a segment under dataKey, written to w.
func newSealer(w io.Writer, dataKey []byte) (*sealer, error) {
	salt := make([]byte, saltSize)
	rand.Read(salt)
	if _, err := w.Write(salt); err != nil {
		return nil, err
	}
	return &sealer{w: w, aead: segmentAEAD(dataKey, salt), buf: make([]byte, 0, chunkSize+tagSize)}, nil
}

func (s *sealer) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if len(s.buf) == chunkSize {
			if err := s.flush(false); err != nil {
				return 0, err
			}
		}
		k := min(len(p), chunkSize-len(s.buf))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
	}
	return n, nil
}

func (s *sealer) flush(last bool) error {
	out := s.aead.Seal(s.buf[:0], chunkNonce(s.index, last), s.buf, nil)
	s.index++
	s.buf = s.buf[:0]
	_, err := s.w.Write(out)
	return err
}

// Close seals the last chunk.
func (s *sealer) Close() error { return s.flush(true) }

// opener reads the plaintext of sealed segments at any offset. It keeps
// the last chunk it opened, so sequential reads open each chunk once.
type opener struct {
	src     io.ReaderAt
	dataKey []byte
	plain   []int64 // plaintext start of each segment, and the total at the end
	sealed  []int64 // sealed start of each segment

	mu       sync.Mutex
	aeads    map[int]cipher.AEAD
	chunk    []byte // plaintext of the cached chunk
	chunkAt  int64  // its plaintext offset, -1 when none
	sealedCh []byte
}

// newOpener reads segments of the given plaintext sizes from src.
func newOpener(src io.ReaderAt, dataKey []byte, sizes []int64) *opener {
	o := &opener{src: src, dataKey: dataKey, aeads: map[int]cipher.AEAD{}, chunkAt: -1}
	var p, c int64
	for _, n := range sizes {
		o.plain, o.sealed = append(o.plain, p), append(o.sealed, c)
		p, c = p+n, c+sealedSize(n)
	}
	o.plain = append(o.plain, p)
	return o
}

// ReadAt reads plaintext at off.
func (o *opener) ReadAt(p []byte, off int64) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	total := o.plain[len(o.plain)-1]
	n := 0
	for n < len(p) {
		if off >= total {
			return n, io.EOF
		}
		if o.chunkAt < 0 || off < o.chunkAt || off >= o.chunkAt+int64(len(o.chunk)) {
			if err := o.load(off); err != nil {
				return n, err
			}
		}
		k := copy(p[n:], o.chunk[off-o.chunkAt:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// load opens the chunk holding plaintext offset off.
func (o *opener) load(off int64) error {
	seg := sort.Search(len(o.plain)-1, func(i int) bool { return o.plain[i+1] > off }) // first segment ending after off
	size := o.plain[seg+1] - o.plain[seg]
	aead, err := o.segment(seg)
	if err != nil {
		return err
	}
	index := (off - o.plain[seg]) / chunkSize
	n := min(chunkSize, size-index*chunkSize)
	last := index*chunkSize+n == size
	at := o.sealed[seg] + saltSize + index*(chunkSize+tagSize)
	if cap(o.sealedCh) < int(n)+tagSize {
		o.sealedCh = make([]byte, chunkSize+tagSize)
	}
	buf := o.sealedCh[:n+tagSize]
	if _, err := o.src.ReadAt(buf, at); err != nil {
		return errTampered
	}
	plain, err := aead.Open(o.chunk[:0], chunkNonce(index, last), buf, nil)
	if err != nil {
		return errTampered
	}
	o.chunk, o.chunkAt = plain, o.plain[seg]+index*chunkSize
	return nil
}

func (o *opener) segment(i int) (cipher.AEAD, error) {
	if a, ok := o.aeads[i]; ok {
		return a, nil
	}
	salt := make([]byte, saltSize)
	if _, err := o.src.ReadAt(salt, o.sealed[i]); err != nil {
		return nil, errTampered
	}
	a := segmentAEAD(o.dataKey, salt)
	o.aeads[i] = a
	return a, nil
}
