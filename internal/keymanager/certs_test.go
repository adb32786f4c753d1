package keymanager

import (
	"encoding/asn1"
	"testing"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/sovcloud/sov/internal/testcert"
)

// TestBoundedIterations: a PKCS#12 bundle asking for more key derivation
// than maxIterations is refused before any is done; an ordinary one passes.
func TestBoundedIterations(t *testing.T) {
	pair := testcert.New(t, "x.test")
	pfx, err := pkcs12.Modern.Encode(pair.Key, pair.Cert, nil, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := boundedIterations(pfx, 0); err != nil {
		t.Fatalf("an ordinary bundle: %v", err)
	}
	var outer struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			Salt       []byte
			Iterations int
		}
	}
	if _, err := asn1.Unmarshal(pfx, &outer); err != nil {
		t.Fatal(err)
	}
	outer.MacData.Iterations = 1 << 40
	costly, err := asn1.Marshal(outer)
	if err != nil {
		t.Fatal(err)
	}
	if err := boundedIterations(costly, 0); err == nil {
		t.Fatal("a bundle asking for 2^40 MAC iterations passed")
	}
}
