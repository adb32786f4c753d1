package fake_test

import (
	"testing"

	"github.com/sovcloud/sov/internal/volume/backend"
	"github.com/sovcloud/sov/internal/volume/backend/backendtest"
	"github.com/sovcloud/sov/internal/volume/backend/fake"
)

// TestDriverSuite runs the driver behaviour suite on the fake.
func TestDriverSuite(t *testing.T) {
	d := fake.New()
	backendtest.Run(t, d, d, nil)
	d = fake.New()
	backendtest.Run(t, d, d, &backend.Encryption{Passphrase: []byte("fake"), Cipher: "aes-xts-plain64", KeyBits: 256})
}
