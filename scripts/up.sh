#!/usr/bin/env bash
# Starts an all-in-one sov: installs on Debian what servers need when it is
# missing (QEMU, qemu-img, genisoimage, dnsmasq, radvd, nftables, HAProxy), builds bin/sov and runs
# `sov up` with its data in ./sov-data. Extra arguments go to `sov up`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
for pkg in iproute2 nftables qemu-system-x86 qemu-utils genisoimage dnsmasq-base radvd haproxy iputils-ping; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "== installing ${need[*]}"
	sudo_ apt-get update -q
	sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
go build -o bin/sov ./cmd/sov
exec ./bin/sov up --data-dir sov-data "$@"
