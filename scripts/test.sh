#!/usr/bin/env bash
# Runs every test of sov: formatting, vet, the Go tests with the race
# detector on SQLite and again on PostgreSQL, the openstack CLI compatibility
# tests, and a short fuzz run. On Debian it installs what is missing
# (python3-openstackclient and its plugins, awscli, postgresql, QEMU, HAProxy, Chromium, slapd and the test guest's packages) and starts a throwaway PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
command -v openstack >/dev/null || need+=(python3-openstackclient)
[ -x /usr/bin/aws ] || need+=(awscli)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
# VM and network tests: QEMU, config drives, DHCP, router advertisements, nftables, the test guest's
# kernel and busybox, debootstrap for the Debian cloud image, and a DHCPv6 client (dhclient).
for pkg in python3-barbicanclient python3-osc-placement python3-octaviaclient chromium slapd haproxy iputils-ping iproute2 nftables qemu-system-x86 qemu-utils genisoimage dnsmasq-base radvd kmod cpio busybox-static linux-image-cloud-amd64 debootstrap e2fsprogs isc-dhcp-client; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	echo "== installing ${need[*]}"
	sudo_ apt-get update -q
	sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
	# The tests run slapd of their own; the one the package starts is not needed.
	if [[ " ${need[*]} " == *" slapd "* ]]; then sudo_ service slapd stop >/dev/null 2>&1 || true; fi
fi

# A PostgreSQL cluster of our own in a temp dir, gone when the tests end.
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/sov-pg.XXXXXX)
pgport=$((20000 + RANDOM % 20000))
as_pg() {
	if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}
[ "$(id -u)" = 0 ] && chown postgres "$pgdir"
as_pg "$pgbin/initdb -D $pgdir/data -A trust -U postgres" >/dev/null
as_pg "$pgbin/pg_ctl -D $pgdir/data -l $pgdir/log -w -o \"-p $pgport -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=off\" start" >/dev/null
trap 'as_pg "$pgbin/pg_ctl -D $pgdir/data -m immediate stop" >/dev/null 2>&1; rm -rf "$pgdir"' EXIT
postgres_url="postgres://postgres@127.0.0.1:$pgport/postgres?sslmode=disable"

# Each step says when it starts (seconds since this script began).
step() { echo "== $* (at ${SECONDS}s)"; }
step gofmt
unformatted=$(gofmt -l .)
if [ -n "$unformatted" ]; then
	echo "not gofmt'ed:"; echo "$unformatted"; exit 1
fi
# Vet with the race detector's build: the packages it compiles are the
# ones the race tests link, so a fresh machine compiles them once.
step go vet, race build
go vet -race ./...
# The two store passes run side by side, both on the race build (compiled
# once, by vet): the PostgreSQL one, which waits on its server more than it
# computes, one package at a time in the background.
# Every package whose tests reach the store (directly or through a test
# server) runs on PostgreSQL too, found by its imports so new ones are not
# forgotten; but cli, whose openstack-CLI and VM flows are the same on
# either store and whose crash tests run sov processes on SQLite of their
# own. Tests whose cost is booting QEMU guests and whose store work others
# do too (a server's records, its restart on PostgreSQL in
# TestServersSurviveRestart) run on SQLite only.
store_pkgs=$(go list -f '{{.ImportPath}} {{join .Imports " "}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./internal/... |
	awk '$0 ~ /internal\/(store|server|servertest)( |$)/ && $1 !~ /internal\/cli$/ {print $1}')
# Longest first, so that the background pass does not end last.
store_pkgs=$(echo "$store_pkgs" | awk '/objectstore$|identity$/ {print; next} {rest = rest $0 "\n"} END {printf "%s", rest}')
vm_only='^(TestServerLifecycle|TestDebianGuestSSH|TestTenantNetworksOnTheWire|TestFloatingIPOnTheWire|TestNICHotPlugOnTheWire|TestServerRefusesPlantedImage|TestServerOutlivesItsImage|TestDriverSuite|TestEncryptedDisks|TestPlantedBackingFileIsNotRead|TestVolumeMovesBetweenGuests|TestBootFromVolumeKeepsData|TestEncryptedVolumesInGuest|TestServerImageKeepsData|TestLoadBalancerGuests)$'
step go test -race: SQLite, and PostgreSQL beside it
pglog=$(mktemp /tmp/sov-pgtest.XXXXXX)
SOV_TEST_POSTGRES="$postgres_url" go test -race -count=1 -timeout 40m -p 1 -skip "$vm_only" $store_pkgs >"$pglog" 2>&1 &
pgtest=$!
sqlite_rc=0
# (The CLI package, whose tests run the openstack CLI and OpenTofu side by
# side, takes close to go test's default 10 minutes on a loaded 2-core machine.)
go test -race -count=1 -timeout 40m ./... || sqlite_rc=$?
pg_rc=0
wait "$pgtest" || pg_rc=$?
step the PostgreSQL pass
cat "$pglog"
rm -f "$pglog"
if [ "$sqlite_rc" != 0 ] || [ "$pg_rc" != 0 ]; then
	echo "FAIL: SQLite pass $sqlite_rc, PostgreSQL pass $pg_rc"
	exit 1
fi
step fuzz, short, leaf packages
# Fuzzing instruments every package of the test binary; a target in a
# package that links the server (objectstore, identity) rebuilds all of it
# (the SQLite engine, the SDKs) once more, minutes on a fresh machine.
# Those run in `make fuzz`; their seed corpora run above with every test.
# Targets in leaf packages run here.
./scripts/fuzz.sh leaf
step all tests passed
