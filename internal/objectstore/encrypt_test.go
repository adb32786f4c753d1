package objectstore

import (
	"bytes"
	"crypto/rand"
	"io"
	"testing"
)

// sealSegments seals each plaintext as one segment, one after the other.
func sealSegments(t testing.TB, key []byte, plains ...[]byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for _, p := range plains {
		s, err := newSealer(&out, key)
		if err != nil {
			t.Fatal(err)
		}
		// In uneven writes, as a network body arrives.
		for rest := p; len(rest) > 0; {
			n := min(len(rest), 1+len(rest)%7001)
			if _, err := s.Write(rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

func sizesOf(plains ...[]byte) []int64 {
	var s []int64
	for _, p := range plains {
		s = append(s, int64(len(p)))
	}
	return s
}

func TestSealedSegments(t *testing.T) {
	t.Parallel()
	key := make([]byte, 32)
	rand.Read(key)
	parts := [][]byte{make([]byte, 3*chunkSize+17), make([]byte, chunkSize), {}, make([]byte, 5)}
	for _, p := range parts {
		rand.Read(p)
	}
	plain := bytes.Join(parts, nil)
	sealed := sealSegments(t, key, parts...)
	var want int64
	for _, p := range parts {
		want += sealedSize(int64(len(p)))
	}
	if int64(len(sealed)) != want {
		t.Fatalf("sealed %d bytes, sealedSize says %d", len(sealed), want)
	}
	if bytes.Contains(sealed, plain[100:132]) {
		t.Fatal("plaintext shows in the sealed data")
	}
	op := newOpener(bytes.NewReader(sealed), key, sizesOf(parts...))
	got, err := io.ReadAll(io.NewSectionReader(op, 0, int64(len(plain))))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read all: %v, equal %v", err, bytes.Equal(got, plain))
	}
	// Ranges across chunk and segment borders.
	for _, r := range [][2]int64{{0, 1}, {chunkSize - 3, 10}, {3*chunkSize + 10, 20}, {int64(len(plain)) - 7, 7}, {5, 2 * chunkSize}} {
		buf := make([]byte, r[1])
		if _, err := op.ReadAt(buf, r[0]); err != nil || !bytes.Equal(buf, plain[r[0]:r[0]+r[1]]) {
			t.Errorf("range %v: %v", r, err)
		}
	}
	if _, err := op.ReadAt(make([]byte, 1), int64(len(plain))); err != io.EOF {
		t.Errorf("read past the end: %v", err)
	}

	// Another key, a flipped bit, a cut-off end, swapped chunks: no plaintext.
	other := make([]byte, 32)
	rand.Read(other)
	swapped := bytes.Clone(sealed)
	c := chunkSize + tagSize
	copy(swapped[saltSize:saltSize+c], sealed[saltSize+c:saltSize+2*c])
	copy(swapped[saltSize+c:saltSize+2*c], sealed[saltSize:saltSize+c])
	flipped := bytes.Clone(sealed)
	flipped[saltSize+c+5] ^= 1
	for name, tc := range map[string]struct {
		key  []byte
		data []byte
		at   int64
	}{
		"other key": {other, sealed, 0},
		"flipped":   {key, flipped, chunkSize},
		"swapped":   {key, swapped, 0},
		"cut off":   {key, sealed[:len(sealed)-3], int64(len(plain)) - 1},
	} {
		op := newOpener(bytes.NewReader(tc.data), tc.key, sizesOf(parts...))
		if _, err := op.ReadAt(make([]byte, 1), tc.at); err != errTampered {
			t.Errorf("%s: read gave %v, want errTampered", name, err)
		}
	}
	// A last chunk dropped at a chunk border is noticed: the new last chunk
	// was not sealed as the last.
	whole := make([]byte, 2*chunkSize)
	one := sealSegments(t, key, whole)
	op = newOpener(bytes.NewReader(one[:saltSize+c]), key, []int64{chunkSize})
	if _, err := op.ReadAt(make([]byte, 1), 0); err != errTampered {
		t.Errorf("a segment cut at a chunk border read: %v", err)
	}
}

func BenchmarkSeal(b *testing.B) {
	key := make([]byte, 32)
	data := make([]byte, 8<<20)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		s, _ := newSealer(io.Discard, key)
		s.Write(data)
		s.Close()
	}
}
