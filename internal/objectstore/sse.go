package objectstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"hash"
	"io"
	"net"
	"net/http"

	"github.com/sovcloud/sov/internal/secrets"
)

// Server-side encryption, as S3 has it: SSE-S3 seals each object's random
// data key under sov's master key; SSE-C wraps it with the key the client
// sends on every request, which sov never stores. The data is sealed as
// encrypt.go describes. SSE-KMS waits for the key manager and answers
// NotImplemented.

const (
	sseS3 = "AES256"
	sseC  = "SSE-C"
)

// dataKeyContext binds an SSE-S3 data key sealed under the master key.
const dataKeyContext = "s3-data-key"

// encryption is how an object's or an upload's data is sealed.
type encryption struct {
	Alg string // "", sseS3 or sseC
	Key string // the data key, sealed (SSE-S3) or wrapped (SSE-C)
}

// customerKey is an SSE-C key given with a request.
type customerKey struct {
	key []byte
	md5 string // as the client sent it, echoed in responses
}

const (
	sseCHeaders     = "X-Amz-Server-Side-Encryption-Customer-"
	copySSECHeaders = "X-Amz-Copy-Source-Server-Side-Encryption-Customer-"
)

// parseCustomerKey reads the SSE-C headers with the given prefix; nil when
// there are none.
func parseCustomerKey(r *http.Request, prefix string) (*customerKey, error) {
	alg, key, sum := r.Header.Get(prefix+"Algorithm"), r.Header.Get(prefix+"Key"), r.Header.Get(prefix+"Key-Md5")
	if alg == "" && key == "" && sum == "" {
		return nil, nil
	}
	switch {
	case alg == "":
		return nil, invalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide a valid encryption algorithm.")
	case alg != "AES256":
		return nil, invalidArgument("The encryption method specified is not supported")
	case key == "":
		return nil, invalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide an appropriate secret key.")
	case sum == "":
		return nil, invalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide the client calculated MD5 of the secret key.")
	}
	raw, err := base64.StdEncoding.DecodeString(key)
	if err != nil || len(raw) != 32 {
		return nil, invalidArgument("The secret key was invalid for the specified algorithm.")
	}
	want := md5.Sum(raw)
	if sum != base64.StdEncoding.EncodeToString(want[:]) {
		return nil, invalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.")
	}
	if !privateChannel(r) {
		return nil, s3err(http.StatusBadRequest, "InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.")
	}
	return &customerKey{key: raw, md5: sum}, nil
}

// privateChannel reports whether a request's key stays private on its way:
// over TLS, or from this machine.
func privateChannel(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	ip := net.ParseIP(host)
	return err == nil && ip != nil && ip.IsLoopback()
}

// wrap and unwrap seal a data key with a customer's key.
func (c *customerKey) aead() cipher.AEAD {
	block, _ := aes.NewCipher(c.key)
	aead, _ := cipher.NewGCM(block)
	return aead
}

func (c *customerKey) wrap(dataKey []byte) string {
	aead := c.aead()
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, dataKey, []byte(dataKeyContext)))
}

func (c *customerKey) unwrap(wrapped string) ([]byte, bool) {
	aead := c.aead()
	b, err := base64.StdEncoding.DecodeString(wrapped)
	if err != nil || len(b) < aead.NonceSize() {
		return nil, false
	}
	key, err := aead.Open(nil, b[:aead.NonceSize()], b[aead.NonceSize():], []byte(dataKeyContext))
	return key, err == nil
}

// sealing is what a write needs to seal data: the stored encryption, the
// plaintext data key (nil for none) and the customer's key for SSE-C.
type sealing struct {
	enc      encryption
	dataKey  []byte
	customer *customerKey
}

// newSealing decides the encryption of an object a request writes: the one
// it asks for, else the bucket's default, and makes its data key.
func (s *Server) newSealing(req *request, b *bucket) (*sealing, error) {
	ck, err := parseCustomerKey(req.r, sseCHeaders)
	if err != nil {
		return nil, err
	}
	alg := req.r.Header.Get("X-Amz-Server-Side-Encryption")
	switch {
	case alg != "" && ck != nil:
		return nil, invalidArgument("Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
	case alg == "aws:kms" || alg == "aws:kms:dsse":
		return nil, errKMSNotImplemented
	case alg != "" && alg != sseS3:
		return nil, invalidArgument("The encryption method specified is not supported")
	case alg == "" && ck == nil:
		alg = b.defaultEncryption().Algorithm
	}
	if alg == "" && ck == nil {
		return &sealing{}, nil
	}
	dk := make([]byte, 32)
	rand.Read(dk)
	if ck != nil {
		return &sealing{enc: encryption{Alg: sseC, Key: ck.wrap(dk)}, dataKey: dk, customer: ck}, nil
	}
	return &sealing{enc: encryption{Alg: sseS3, Key: s.kek.Seal(dk, dataKeyContext)}, dataKey: dk}, nil
}

var errKMSNotImplemented = s3err(http.StatusNotImplemented, "NotImplemented", "SSE-KMS needs a key manager, which this cloud does not have yet; use AES256 (SSE-S3) or SSE-C.")

// openSealing finds the data key of stored data for a request that reads
// or extends it, with the SSE-C headers of the given prefix: an SSE-C
// object needs its key, any other refuses one.
func (s *Server) openSealing(req *request, enc encryption, prefix string) (*sealing, error) {
	ck, err := parseCustomerKey(req.r, prefix)
	if err != nil {
		return nil, err
	}
	switch enc.Alg {
	case "":
		if ck != nil {
			return nil, s3err(http.StatusBadRequest, "InvalidRequest", "The encryption parameters are not applicable to this object.")
		}
		return &sealing{}, nil
	case sseS3:
		if ck != nil {
			return nil, s3err(http.StatusBadRequest, "InvalidRequest", "The encryption parameters are not applicable to this object.")
		}
		dk, err := s.kek.Open(enc.Key, dataKeyContext)
		if err != nil {
			return nil, err
		}
		return &sealing{enc: enc, dataKey: dk}, nil
	default:
		if ck == nil {
			return nil, s3err(http.StatusBadRequest, "InvalidRequest", "The object was stored using a form of Server Side Encryption. The correct parameters must be provided to retrieve the object.")
		}
		dk, ok := ck.unwrap(enc.Key)
		if !ok {
			return nil, s3err(http.StatusForbidden, "AccessDenied", "The provided customer key does not match the one the object was encrypted with.")
		}
		return &sealing{enc: enc, dataKey: dk, customer: ck}, nil
	}
}

// headers sets the encryption response headers AWS sends.
func (z *sealing) headers(h http.Header) {
	switch z.enc.Alg {
	case sseS3:
		h.Set("X-Amz-Server-Side-Encryption", sseS3)
	case sseC:
		h.Set(sseCHeaders+"Algorithm", "AES256")
		h.Set(sseCHeaders+"Key-Md5", z.customer.md5)
	}
}

// resealDataKeys seals under the primary master key the SSE-S3 data keys
// that an older master key sealed.
func (s *Server) resealDataKeys(ctx context.Context) error {
	bind := func([]string) string { return dataKeyContext }
	for _, t := range []secrets.Sealed{
		{Table: "objects", Column: "sse_key", Key: []string{"bucket", "key", "version_id"}, Where: "sse = 'AES256'", Bind: bind},
		{Table: "uploads", Column: "sse_key", Key: []string{"id"}, Where: "sse = 'AES256'", Bind: bind},
	} {
		if err := s.kek.Reseal(ctx, s.db, t); err != nil {
			return err
		}
	}
	return nil
}

// The bucket default encryption configuration.

type encryptionConfig struct {
	XMLName xml.Name  `xml:"ServerSideEncryptionConfiguration"`
	NS      string    `xml:"xmlns,attr,omitempty"`
	Rules   []sseRule `xml:"Rule"`
}

type sseRule struct {
	Default          *sseDefault `xml:"ApplyServerSideEncryptionByDefault"`
	BucketKeyEnabled *bool       `xml:",omitempty"`
}

type sseDefault struct {
	SSEAlgorithm   string
	KMSMasterKeyID string `xml:",omitempty"`
}

// defaultEncryption is a bucket's stored default.
type defaultEncryption struct {
	Algorithm string `json:"alg"`
	BucketKey *bool  `json:"bucket_key,omitempty"`
}

func (b *bucket) defaultEncryption() defaultEncryption {
	var d defaultEncryption
	if b.Encryption != "" {
		json.Unmarshal([]byte(b.Encryption), &d)
	}
	return d
}

func (s *Server) putBucketEncryption(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutEncryptionConfiguration"); err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var c encryptionConfig
	if xml.Unmarshal(body, &c) != nil || len(c.Rules) != 1 || c.Rules[0].Default == nil {
		return errMalformedXML
	}
	rule := c.Rules[0]
	switch rule.Default.SSEAlgorithm {
	case sseS3:
		if rule.Default.KMSMasterKeyID != "" {
			return invalidArgument("a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or aws:kms:dsse")
		}
	case "aws:kms", "aws:kms:dsse":
		return errKMSNotImplemented
	default:
		return errMalformedXML
	}
	enc, _ := json.Marshal(defaultEncryption{Algorithm: sseS3, BucketKey: rule.BucketKeyEnabled})
	return s.setBucketField(req, "encryption", string(enc), http.StatusOK)
}

func (s *Server) getBucketEncryption(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetEncryptionConfiguration")
	if err != nil {
		return err
	}
	d := b.defaultEncryption()
	if d.Algorithm == "" {
		return s3err(http.StatusNotFound, "ServerSideEncryptionConfigurationNotFoundError", "The server side encryption configuration was not found")
	}
	c := encryptionConfig{NS: s3NS, Rules: []sseRule{{Default: &sseDefault{SSEAlgorithm: d.Algorithm}, BucketKeyEnabled: d.BucketKey}}}
	return writeXML(req.w, http.StatusOK, c)
}

func (s *Server) deleteBucketEncryption(req *request) error {
	if _, err := s.bucketFor(req, accessAdmin, "s3:PutEncryptionConfiguration"); err != nil {
		return err
	}
	return s.setBucketField(req, "encryption", "", http.StatusNoContent)
}

// sealTo returns a writer that seals what it is given into w (w itself
// without encryption) and a finish that ends the segment and returns the
// object's ETag, given the digests of the plaintext: their MD5, but for
// SSE-C data the MD5 of what is stored (the plaintext's would tell anyone
// who can read the metadata what the data is).
func (z *sealing) sealTo(w io.Writer) (io.Writer, func(plain *digests) (string, error), error) {
	plainETag := func(plain *digests) string { return hex.EncodeToString(plain.md5.Sum(nil)) }
	if z.dataKey == nil {
		return w, func(plain *digests) (string, error) { return plainETag(plain), nil }, nil
	}
	var stored hash.Hash
	if z.customer != nil {
		stored = md5.New()
		w = io.MultiWriter(w, stored)
	}
	sw, err := newSealer(w, z.dataKey)
	if err != nil {
		return nil, nil, err
	}
	return sw, func(plain *digests) (string, error) {
		if err := sw.Close(); err != nil {
			return "", err
		}
		if stored == nil {
			return plainETag(plain), nil
		}
		return hex.EncodeToString(stored.Sum(nil)), nil
	}, nil
}

// receiveSealed is receive through the sealing: it returns the digests of
// the plaintext and the object's ETag.
func receiveSealed(req *request, w io.Writer, size int64, check *bodyCheck, z *sealing) (*digests, string, error) {
	sw, finish, err := z.sealTo(w)
	if err != nil {
		return nil, "", err
	}
	d, err := receive(req, sw, size, check)
	if err != nil {
		return nil, "", err
	}
	etag, err := finish(d)
	return d, etag, err
}
