package objectstore

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"net/http"
	"strings"
)

// checksumAlgorithms are the x-amz-checksum-* algorithms S3 clients send.
var checksumAlgorithms = map[string]func() hash.Hash{
	"CRC32":     func() hash.Hash { return crc32.NewIEEE() },
	"CRC32C":    func() hash.Hash { return crc32.New(crc32.MakeTable(crc32.Castagnoli)) },
	"CRC64NVME": func() hash.Hash { return crc64.New(crc64NVME) },
	"SHA1":      sha1.New,
	"SHA256":    sha256.New,
}

// crc64NVME is CRC-64/NVME (polynomial 0xad93d23594c93659, reflected).
var crc64NVME = crc64.MakeTable(0x9a6c9329ac4bc9b5)

func checksumHeader(alg string) string { return "x-amz-checksum-" + strings.ToLower(alg) }

// checksumRequest says which checksum a request carries: in a header now,
// or in a trailer after the body.
type checksumRequest struct {
	alg     string // "" for none
	value   string // base64, from the header; "" when it comes in the trailer
	trailer bool
}

// requestedChecksum finds the x-amz-checksum-* of a request, if any.
func requestedChecksum(r *http.Request) (checksumRequest, error) {
	if t := r.Header.Get("X-Amz-Trailer"); t != "" {
		alg := strings.ToUpper(strings.TrimPrefix(strings.ToLower(t), "x-amz-checksum-"))
		if _, ok := checksumAlgorithms[alg]; !ok {
			return checksumRequest{}, invalidArgument("Unsupported x-amz-trailer %q.", t)
		}
		return checksumRequest{alg: alg, trailer: true}, nil
	}
	for alg := range checksumAlgorithms {
		if v := r.Header.Get(checksumHeader(alg)); v != "" {
			return checksumRequest{alg: alg, value: v}, nil
		}
	}
	if alg := strings.ToUpper(r.Header.Get("X-Amz-Sdk-Checksum-Algorithm")); alg != "" {
		if _, ok := checksumAlgorithms[alg]; !ok {
			return checksumRequest{}, invalidArgument("Unsupported checksum algorithm %q.", alg)
		}
	}
	return checksumRequest{}, nil
}

// digests hashes a body once for everything that needs its hash: the ETag
// (MD5), x-amz-content-sha256 and the requested checksum.
type digests struct {
	md5, sha256, checksum hash.Hash
	alg                   string
}

func newDigests(alg string, wantSHA256 bool) *digests {
	d := &digests{md5: md5.New(), alg: alg}
	if wantSHA256 {
		d.sha256 = sha256.New()
	}
	if alg != "" {
		d.checksum = checksumAlgorithms[alg]()
	}
	return d
}

func (d *digests) Write(p []byte) (int, error) {
	d.md5.Write(p)
	if d.sha256 != nil {
		d.sha256.Write(p)
	}
	if d.checksum != nil {
		d.checksum.Write(p)
	}
	return len(p), nil
}

func (d *digests) checksumValue() string {
	if d.checksum == nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(d.checksum.Sum(nil))
}
