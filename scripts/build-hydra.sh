#!/usr/bin/env bash
# Builds ORY Hydra (an OAuth 2.0 and OpenID Connect server) from the Go
# module proxy, for the benchmark that sets sov's OpenID Connect provider
# beside it (BenchmarkTokenEndpoint).
#
#   scripts/build-hydra.sh OUT_DIR  -> OUT_DIR/hydra
#
# `go install hydra@version` refuses Hydra's go.mod (it replaces pop with
# ORY's fork, and hydra-client-go with a nested module): a throwaway module
# of our own repeats the pop replace and takes hydra-client-go from the
# proxy. The sqlite tag is what its in-memory store needs (cgo).
set -euo pipefail
umask 022
out=${1:?usage: build-hydra.sh OUT_DIR}
hydra_version=v2.3.0
export PATH="$PATH:/usr/local/go/bin" GOFLAGS=-mod=mod CGO_ENABLED=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$work"
go mod init sov.local/hydra-build >/dev/null 2>&1
gomod=$(go mod download -json "github.com/ory/hydra/v2@$hydra_version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
grep '^replace github.com/gobuffalo/pop' "$gomod" >>go.mod
printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/ory/hydra/v2"\n' >tools.go
go get "github.com/ory/hydra/v2@$hydra_version" >/dev/null 2>&1 || go get "github.com/ory/hydra/v2@$hydra_version"
go mod tidy >/dev/null 2>&1
go build -trimpath -ldflags "-s -w" -tags sqlite,sqlite_omit_load_extension -o "$out/hydra.tmp" github.com/ory/hydra/v2
mv "$out/hydra.tmp" "$out/hydra"
echo "built Hydra $hydra_version in $out"
