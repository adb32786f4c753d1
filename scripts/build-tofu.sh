#!/usr/bin/env bash
# Builds OpenTofu and terraform-provider-openstack from the Go module proxy
# for sov's infrastructure-as-code tests, and lays the provider out as a
# filesystem mirror, so `tofu init` asks no registry.
#
#   scripts/build-tofu.sh OUT_DIR  -> OUT_DIR/tofu,
#     OUT_DIR/mirror/registry.opentofu.org/terraform-provider-openstack/openstack/<v>/linux_amd64/
#
# `go install opentofu@version` refuses OpenTofu's go.mod, which replaces
# hcl with OpenTofu's fork: a throwaway module of our own repeats that
# replace and builds the command from there.
set -euo pipefail
# What it makes is read by others (a guest's users, the tests): whatever
# umask the caller has (sov's tests run under sov's 077).
umask 022
out=${1:?usage: build-tofu.sh OUT_DIR}
tofu_version=v1.12.6
provider_version=v3.4.0
export PATH="$PATH:/usr/local/go/bin" GOFLAGS=-mod=mod
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
out=$(cd "$out" && pwd)

cd "$work"
go mod init sov.local/tofu-build >/dev/null 2>&1
gomod=$(go mod download -json "github.com/opentofu/opentofu@$tofu_version" | sed -n 's/^\t"GoMod": "\(.*\)",$/\1/p')
grep '^replace ' "$gomod" >>go.mod
go get "github.com/opentofu/opentofu/cmd/tofu@$tofu_version" >/dev/null 2>&1 || go get "github.com/opentofu/opentofu/cmd/tofu@$tofu_version"
go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$out/tofu.tmp" github.com/opentofu/opentofu/cmd/tofu

# The provider needs no replace: go install builds it as released.
provider_dir="$out/mirror/registry.opentofu.org/terraform-provider-openstack/openstack/${provider_version#v}/linux_amd64"
mkdir -p "$provider_dir"
GOBIN="$work/bin" go install -trimpath -ldflags "-s -w" "github.com/terraform-provider-openstack/terraform-provider-openstack/v3@$provider_version"
mv "$work/bin/terraform-provider-openstack" "$provider_dir/terraform-provider-openstack_$provider_version"
mv "$out/tofu.tmp" "$out/tofu"
echo "built OpenTofu $tofu_version and terraform-provider-openstack $provider_version in $out"
