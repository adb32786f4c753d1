package localca

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"
)

func TestEnsure(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	f, err := Ensure(dir, []string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(f.CA)
	cert, _ := os.ReadFile(f.Cert)
	verify := func(host string) error {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
		if err != nil {
			return err
		}
		leaf, _ := x509.ParseCertificate(pair.Certificate[0])
		_, err = leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
		return err
	}
	for _, h := range []string{"127.0.0.1", "localhost"} {
		if err := verify(h); err != nil {
			t.Errorf("%s: %v", h, err)
		}
	}
	if err := verify("evil.example"); err == nil {
		t.Error("the certificate is good for a host it does not name")
	}
	for _, file := range []string{f.Key, dir + "/ca-key.pem"} {
		if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", file, st.Mode(), err)
		}
	}
	// Again: nothing changes.
	if _, err := Ensure(dir, []string{"127.0.0.1", "localhost"}, now); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(f.Cert); string(again) != string(cert) {
		t.Error("the server certificate was made again for the same hosts")
	}
	// A new name, or the end in sight: a new certificate from the same CA.
	if _, err := Ensure(dir, []string{"127.0.0.1", "localhost", "cloud.example"}, now); err != nil {
		t.Fatal(err)
	}
	if err := verify("cloud.example"); err != nil {
		t.Errorf("new host: %v", err)
	}
	if caAgain, _ := os.ReadFile(f.CA); string(caAgain) != string(ca) {
		t.Error("the CA changed")
	}
	before, _ := os.ReadFile(f.Cert)
	if _, err := Ensure(dir, []string{"127.0.0.1"}, now.Add(370*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(f.Cert); string(after) == string(before) {
		t.Error("a certificate near its end was not renewed")
	}
}
