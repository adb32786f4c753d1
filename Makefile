GO ?= go
export PATH := $(PATH):/usr/local/go/bin

.PHONY: build up debian-image test fuzz bench clean

# bin/sov, the one binary.
build:
	$(GO) build -o bin/sov ./cmd/sov

# Start an all-in-one cloud with embedded defaults (data in ./sov-data);
# installs QEMU and dnsmasq on Debian when missing.
up:
	./scripts/up.sh

# Offer a Debian 12 cloud image (cloud-init, sshd) as public image debian-12
# on the cloud `make up` started (built once from Debian packages).
debian-image:
	./scripts/debian-image.sh

# Run every test (installs what the tests need on Debian).
test:
	./scripts/test.sh

# Fuzz every target for a short while (make test runs the leaf packages' only).
fuzz:
	./scripts/fuzz.sh

# Measure token issue/validate against the cloud started by `make up`.
bench: build
	./bin/sov bench identity --auth-url http://127.0.0.1:5000/identity/v3 --password "$$(cat sov-data/admin-password)"

clean:
	rm -rf bin
