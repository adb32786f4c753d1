package keymanager

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"

	"github.com/google/uuid"
	"software.sslmate.com/src/go-pkcs12"

	"github.com/sovcloud/sov/internal/store"
)

// ErrNoCertificate is the error of a certificate reference that names
// nothing of the project's (or nothing readable as a certificate).
var ErrNoCertificate = errors.New("keymanager: no certificate at that reference")

// TLSBundle reads a TLS server's certificate, chain and private key from
// a project's key manager by reference, as Octavia's certificate manager
// reads Barbican: a container of type "certificate" (its secrets
// "certificate", "private_key" and optionally "intermediates", PEM), or a
// secret holding a PKCS#12 bundle without a passphrase. It returns them
// as one PEM file (certificate, chain, key), which HAProxy loads; a key
// that does not match its certificate is refused.
func (s *Service) TLSBundle(ctx context.Context, project, ref string) ([]byte, error) {
	id, isContainer, ok := s.parseRef(ref)
	if !ok {
		return nil, ErrNoCertificate
	}
	var certPEM, keyPEM, chainPEM []byte
	if isContainer {
		c, err := s.loadContainer(ctx, s.db, s.db.QueryRow(ctx, `SELECT `+containerColumns+` FROM km_containers WHERE id = ? AND project_id = ?`, id, project))
		if err = store.Row(err); errors.Is(err, store.ErrNotFound) || (err == nil && c.Type != "certificate") {
			return nil, ErrNoCertificate
		}
		if err != nil {
			return nil, err
		}
		for _, r := range c.Secrets {
			payload, err := s.projectPayload(ctx, project, r.Secret)
			if err != nil {
				return nil, err
			}
			switch r.Name {
			case "certificate":
				certPEM = payload
			case "private_key":
				keyPEM = payload
			case "intermediates":
				chainPEM = payload
			case "private_key_passphrase":
				return nil, fmt.Errorf("%w: encrypted private keys are not supported", ErrNoCertificate)
			}
		}
	} else {
		payload, err := s.projectPayload(ctx, project, id)
		if err != nil {
			return nil, err
		}
		if err := boundedIterations(payload, 0); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoCertificate, err)
		}
		key, cert, chain, err := pkcs12.DecodeChain(payload, "")
		if err != nil {
			return nil, fmt.Errorf("%w: not a PKCS#12 bundle without a passphrase: %v", ErrNoCertificate, err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoCertificate, err)
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		for _, c := range chain {
			chainPEM = append(chainPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
		}
	}
	if _, err := tls.X509KeyPair(append(append([]byte{}, certPEM...), chainPEM...), keyPEM); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoCertificate, err)
	}
	bundle := append(append(append([]byte{}, certPEM...), '\n'), chainPEM...)
	return append(append(bundle, '\n'), keyPEM...), nil
}

// parseRef reads a reference to a container or secret: a URL whose path
// ends in /v1/containers/<id> or /v1/secrets/<id>, read by its path (as
// Barbican's clients read refs by their last part), so refs stay good
// when the cloud's public URL changes.
func (s *Service) parseRef(ref string) (id string, container, ok bool) {
	u, err := url.Parse(ref)
	if err != nil {
		return "", false, false
	}
	parts := strings.Split(strings.TrimSuffix(u.Path, "/"), "/")
	if n := len(parts); n >= 3 && parts[n-3] == "v1" && (parts[n-2] == "containers" || parts[n-2] == "secrets") {
		if _, err := uuid.Parse(parts[n-1]); err == nil {
			return parts[n-1], parts[n-2] == "containers", true
		}
	}
	return "", false, false
}

// projectPayload is the payload of an unexpired secret of the project.
func (s *Service) projectPayload(ctx context.Context, project, id string) ([]byte, error) {
	var n int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM km_secrets WHERE id = ? AND project_id = ? AND (expiration = 0 OR expiration > ?)`,
		id, project, now()).Scan(&n); err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, ErrNoCertificate
	}
	return s.payload(ctx, id)
}

// maxIterations is the most key-derivation iterations a PKCS#12 bundle
// may ask for (OpenSSL makes 2048; each million costs about a second).
const maxIterations = 1 << 20

// boundedIterations refuses a PKCS#12 bundle that asks for more than
// maxIterations of key derivation anywhere, before it is decoded: in
// PKCS#12 and PKCS#5 (MacData, pbeParams, PBKDF2-params) an iteration
// count is the INTEGER right after a salt's OCTET STRING in a SEQUENCE.
// OCTET STRINGs that hold DER (a PFX's contents) are walked too.
func boundedIterations(der []byte, depth int) error {
	if depth > 64 {
		return errors.New("PKCS#12 nested too deep")
	}
	for len(der) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(der, &v)
		if err != nil {
			return nil // not DER: encrypted bytes, nothing to walk
		}
		switch {
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagSequence, v.IsCompound:
			if err := sequenceIterations(v.Bytes, depth); err != nil {
				return err
			}
		case v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString:
			if err := boundedIterations(v.Bytes, depth+1); err != nil {
				return err
			}
		}
		der = rest
	}
	return nil
}

// sequenceIterations checks the elements of a SEQUENCE (or other
// constructed value): an INTEGER after an OCTET STRING is an iteration
// count; the elements are walked in turn.
func sequenceIterations(body []byte, depth int) error {
	afterSalt := false
	for len(body) > 0 {
		var v asn1.RawValue
		rest, err := asn1.Unmarshal(body, &v)
		if err != nil {
			return nil
		}
		if v.Class == asn1.ClassUniversal && v.Tag == asn1.TagInteger && afterSalt {
			n := new(big.Int).SetBytes(v.Bytes)
			if len(v.Bytes) > 0 && v.Bytes[0]&0x80 == 0 && n.Cmp(big.NewInt(maxIterations)) > 0 {
				return fmt.Errorf("PKCS#12 asks for %s iterations of key derivation; at most %d", n, maxIterations)
			}
		}
		afterSalt = v.Class == asn1.ClassUniversal && v.Tag == asn1.TagOctetString
		if err := boundedIterations(v.FullBytes, depth+1); err != nil {
			return err
		}
		body = rest
	}
	return nil
}
