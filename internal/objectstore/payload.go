package objectstore

import (
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"strings"
)

func isStreaming(payload string) bool { return strings.HasPrefix(payload, "STREAMING-") }

// payloadReader returns the request body with any aws-chunked encoding removed.
func payloadReader(req *request) (io.Reader, error) {
	if isStreaming(req.sig.payload) {
		return newChunkedReader(req.r.Body, req.sig), nil
	}
	return req.r.Body, nil
}

// payloadSize is the size of the decoded body, or an error if the request does not say it.
func payloadSize(req *request) (int64, error) {
	if isStreaming(req.sig.payload) {
		n, err := strconv.ParseInt(req.r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64)
		if err != nil || n < 0 {
			return 0, errMissingLength
		}
		return n, nil
	}
	if req.r.ContentLength < 0 {
		return 0, errMissingLength
	}
	return req.r.ContentLength, nil
}

// checkPayloadHash compares the body's SHA-256 with a signed x-amz-content-sha256.
func checkPayloadHash(req *request, d *digests) error {
	if d.sha256 == nil {
		return nil
	}
	if hex.EncodeToString(d.sha256.Sum(nil)) != strings.ToLower(req.sig.payload) {
		return errSHA256Mismatch
	}
	return nil
}

// bodyCheck holds what a body must match once read.
type bodyCheck struct {
	md5      []byte // from Content-MD5
	checksum checksumRequest
}

// parseBodyCheck reads Content-MD5 and x-amz-checksum-* of a request.
func parseBodyCheck(req *request) (*bodyCheck, error) {
	c := &bodyCheck{}
	if vs, ok := req.r.Header["Content-Md5"]; ok {
		b, err := base64.StdEncoding.DecodeString(strings.Join(vs, ""))
		if err != nil || len(b) != 16 {
			return nil, errInvalidDigest
		}
		c.md5 = b
	}
	var err error
	if c.checksum, err = requestedChecksum(req.r); err != nil {
		return nil, err
	}
	if c.checksum.value != "" {
		if b, err := base64.StdEncoding.DecodeString(c.checksum.value); err != nil || len(b) == 0 {
			return nil, errInvalidDigest
		}
	}
	return c, nil
}

// receive copies exactly size bytes of the request body into w and
// verifies length, signatures, payload hash, Content-MD5 and checksum. It
// returns the digests (MD5 for the ETag, the checksum) of what it read.
func receive(req *request, w io.Writer, size int64, check *bodyCheck) (*digests, error) {
	body, err := payloadReader(req)
	if err != nil {
		return nil, err
	}
	d := newDigests(check.checksum.alg, !isStreaming(req.sig.payload) && req.sig.payload != unsignedPayload)
	n, err := copyHashing(w, d, io.LimitReader(body, size), size)
	if err != nil {
		var e *Error
		if asS3(err, &e) {
			return nil, e
		}
		return nil, errIncompleteBody
	}
	if n != size {
		return nil, errIncompleteBody
	}
	// A streaming body must end here; reading on verifies the last chunk
	// signature and collects the trailer.
	if cr, ok := body.(*chunkedReader); ok {
		var one [1]byte
		if m, err := cr.Read(one[:]); m != 0 || (err != nil && err != io.EOF) {
			if e, ok := err.(*Error); ok {
				return nil, e
			}
			return nil, errIncompleteBody
		}
		if check.checksum.trailer {
			check.checksum.value = cr.trailers[checksumHeader(check.checksum.alg)]
			if check.checksum.value == "" {
				return nil, invalidArgument("The trailer %s is missing.", checksumHeader(check.checksum.alg))
			}
		}
	}
	if err := checkPayloadHash(req, d); err != nil {
		return nil, err
	}
	if check.md5 != nil && string(check.md5) != string(d.md5.Sum(nil)) {
		return nil, errBadDigest
	}
	if check.checksum.value != "" && check.checksum.value != d.checksumValue() {
		return nil, s3err(http.StatusBadRequest, "BadDigest", "The %s you specified did not match the calculated checksum.", check.checksum.alg)
	}
	return d, nil
}

// copyHashing copies r to w and feeds the same bytes to d. Large bodies are
// hashed in a second goroutine while the next chunk is read and written,
// so hashing does not add to the time the disk and network take.
func copyHashing(w io.Writer, d io.Writer, r io.Reader, size int64) (int64, error) {
	const chunk = 1 << 20
	if size <= chunk {
		return io.Copy(io.MultiWriter(w, d), r)
	}
	free := make(chan []byte, 3)
	for range 3 {
		free <- make([]byte, chunk)
	}
	full := make(chan []byte, 3)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for b := range full {
			d.Write(b)
			free <- b[:cap(b)]
		}
	}()
	defer func() { close(full); <-done }()
	var n int64
	for {
		b := <-free
		m, rerr := io.ReadFull(r, b)
		if m > 0 {
			if _, err := w.Write(b[:m]); err != nil {
				return n, err
			}
			n += int64(m)
			full <- b[:m]
		} else {
			free <- b
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}
