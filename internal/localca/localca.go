// Package localca makes the certificates `sov up --tls auto` serves when
// the operator gives none: a certificate authority of the cloud's own,
// kept in the data dir and reused across starts, and a server
// certificate it signs for the names and addresses clients reach the
// cloud by, made again when it nears its end or lacks a name.
package localca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Files are the PEM files Ensure keeps in its directory.
type Files struct {
	// CA is the authority's certificate: what clients trust.
	CA string
	// Cert and Key are the server's certificate and key.
	Cert, Key string
}

const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	serverLifetime = 397 * 24 * time.Hour
	// renewBefore is how long before its end a server certificate is made anew.
	renewBefore = 30 * 24 * time.Hour
)

// Ensure makes, where missing, the CA in dir, and a server certificate
// for hosts (names and IP addresses) signed by it; a server certificate
// that expires within 30 days, lacks one of hosts or was signed by
// another CA is made again. Keys are files of mode 0600.
func Ensure(dir string, hosts []string, now time.Time) (Files, error) {
	f := Files{CA: filepath.Join(dir, "ca.pem"), Cert: filepath.Join(dir, "server.pem"), Key: filepath.Join(dir, "server-key.pem")}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, err
	}
	ca, caKey, err := loadOrMakeCA(dir, f.CA, now)
	if err != nil {
		return f, err
	}
	if current(f.Cert, ca, hosts, now) {
		return f, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return f, err
	}
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: hosts[0]},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(serverLifetime),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return f, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return f, err
	}
	if err := writePEM(f.Key, "PRIVATE KEY", keyDER); err != nil {
		return f, err
	}
	return f, writePEM(f.Cert, "CERTIFICATE", der)
}

// loadOrMakeCA reads the CA of dir, or makes one.
func loadOrMakeCA(dir, certFile string, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	keyFile := filepath.Join(dir, "ca-key.pem")
	if cert, err := readCert(certFile); err == nil {
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("localca: %s without its key: %w", certFile, err)
		}
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, nil, fmt.Errorf("localca: %s is not PEM", keyFile)
		}
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		key, ok := k.(*ecdsa.PrivateKey)
		if err != nil || !ok {
			return nil, nil, fmt.Errorf("localca: %s is not an ECDSA key", keyFile)
		}
		return cert, key, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{SerialNumber: serial(), Subject: pkix.Name{CommonName: "sov local CA (" + host + ")", Organization: []string{"sov"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(caLifetime), IsCA: true, BasicConstraintsValid: true,
		MaxPathLenZero: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writePEM(keyFile, "PRIVATE KEY", keyDER); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certFile, "CERTIFICATE", der); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return cert, key, err
}

// current reports whether the server certificate in file is signed by
// ca, lasts beyond the renewal window and names every host.
func current(file string, ca *x509.Certificate, hosts []string, now time.Time) bool {
	cert, err := readCert(file)
	if err != nil || now.Add(renewBefore).After(cert.NotAfter) || cert.CheckSignatureFrom(ca) != nil {
		return false
	}
	return !slices.ContainsFunc(hosts, func(h string) bool { return cert.VerifyHostname(h) != nil })
}

func readCert(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("localca: %s is not a PEM certificate", file)
	}
	return x509.ParseCertificate(block.Bytes)
}

// writePEM writes a PEM file of mode 0600 through a temporary file, so
// that a crash leaves the old file or the new one, never half of one.
func writePEM(file, kind string, der []byte) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
