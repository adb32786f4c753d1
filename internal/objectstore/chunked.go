package objectstore

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"hash"
	"io"
	"strconv"
	"strings"
)

// chunkedReader decodes an aws-chunked body (Content-Encoding: aws-chunked):
// chunks "hex-size[;chunk-signature=sig]\r\n data \r\n", a zero-size last
// chunk, then optional trailers. With a signed stream it verifies every
// chunk signature, chained from the request's seed signature, and the
// trailer signature.
type chunkedReader struct {
	br        *bufio.Reader
	sig       *signed // nil for unsigned chunks
	prevSig   string
	remaining int64
	chunkSig  string
	chunk     hash.Hash
	done      bool
	trailers  map[string]string
}

const maxChunkLine = 4096

var errChunkFormat = s3err(400, "IncompleteBody", "The aws-chunked request body is malformed.")

func newChunkedReader(r io.Reader, sig *signed) *chunkedReader {
	c := &chunkedReader{br: bufio.NewReaderSize(r, 64<<10), trailers: map[string]string{}}
	if sig.payload == streamingSigned || sig.payload == streamingSignedT {
		c.sig, c.prevSig, c.chunk = sig, sig.seedSign, sha256.New()
	}
	return c
}

func (c *chunkedReader) readLine() (string, error) {
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) || len(line) > maxChunkLine {
			return "", errChunkFormat
		}
		if errors.Is(err, io.EOF) {
			return "", errIncompleteBody
		}
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.remaining == 0 {
		if err := c.nextChunk(); err != nil {
			return 0, err
		}
		if c.done {
			return 0, io.EOF
		}
	}
	if int64(len(p)) > c.remaining {
		p = p[:c.remaining]
	}
	n, err := c.br.Read(p)
	if c.chunk != nil {
		c.chunk.Write(p[:n])
	}
	c.remaining -= int64(n)
	if errors.Is(err, io.EOF) && c.remaining > 0 {
		return n, errIncompleteBody
	}
	if c.remaining == 0 {
		if err := c.endChunk(); err != nil {
			return n, err
		}
	}
	return n, nil
}

// nextChunk reads a chunk header; the last chunk leads to the trailers.
func (c *chunkedReader) nextChunk() error {
	line, err := c.readLine()
	if err != nil {
		return err
	}
	sizeHex, ext, _ := strings.Cut(line, ";")
	size, err := strconv.ParseInt(strings.TrimSpace(sizeHex), 16, 64)
	if err != nil || size < 0 {
		return errChunkFormat
	}
	if c.sig != nil {
		sig, ok := strings.CutPrefix(ext, "chunk-signature=")
		if !ok {
			return errSignatureMismatch
		}
		c.chunkSig = sig
	}
	c.remaining = size
	if size > 0 {
		return nil
	}
	if err := c.verifyChunk(); err != nil {
		return err
	}
	c.done = true
	return c.readTrailers()
}

// endChunk checks the CRLF after a chunk's data and its signature.
func (c *chunkedReader) endChunk() error {
	line, err := c.readLine()
	if err != nil || line != "" {
		return errChunkFormat
	}
	return c.verifyChunk()
}

func (c *chunkedReader) verifyChunk() error {
	if c.sig == nil {
		return nil
	}
	toSign := "AWS4-HMAC-SHA256-PAYLOAD\n" + c.sig.date + "\n" + c.sig.scope + "\n" + c.prevSig + "\n" + emptySHA256 + "\n" + hex.EncodeToString(c.chunk.Sum(nil))
	want := hex.EncodeToString(hmacSHA256(c.sig.key, toSign))
	if !hmac.Equal([]byte(want), []byte(c.chunkSig)) {
		return errSignatureMismatch
	}
	c.prevSig = c.chunkSig
	c.chunk.Reset()
	return nil
}

// readTrailers reads "name:value" lines up to an empty line (or the end).
func (c *chunkedReader) readTrailers() error {
	var signedText strings.Builder
	trailerSig := ""
	for {
		line, err := c.readLine()
		if errors.Is(err, errIncompleteBody) {
			break // some clients end the body right after the last chunk
		}
		if err != nil {
			return err
		}
		if line == "" {
			// A signed trailer may have a blank line before its signature.
			if c.sig != nil && c.sig.payload == streamingSignedT && trailerSig == "" && len(c.trailers) > 0 {
				continue
			}
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return errChunkFormat
		}
		name, value = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(value)
		if name == "x-amz-trailer-signature" {
			trailerSig = value
			continue
		}
		c.trailers[name] = value
		signedText.WriteString(name + ":" + value + "\n")
	}
	if c.sig == nil || c.sig.payload != streamingSignedT {
		return nil
	}
	sum := sha256.Sum256([]byte(signedText.String()))
	toSign := "AWS4-HMAC-SHA256-TRAILER\n" + c.sig.date + "\n" + c.sig.scope + "\n" + c.prevSig + "\n" + hex.EncodeToString(sum[:])
	if !hmac.Equal([]byte(hex.EncodeToString(hmacSHA256(c.sig.key, toSign))), []byte(trailerSig)) {
		return errSignatureMismatch
	}
	return nil
}
