#!/usr/bin/env bash
# Offers a Debian 12 cloud image (cloud-init, sshd) on the cloud `make up`
# started: builds it with scripts/build-debian-guest.sh (once; cached where
# the tests cache it) and uploads it as the public image debian-12, with
# its kernel and ramdisk, using sov-data/clouds.yaml. Needs root and
# debootstrap (installed when missing on Debian).
#
#   scripts/debian-image.sh [CLOUDS_YAML]
set -euo pipefail
cd "$(dirname "$0")/.."
clouds=${1:-$PWD/sov-data/clouds.yaml}
export OS_CLIENT_CONFIG_FILE=$clouds OS_CLOUD=sov
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
need=()
for pkg in debootstrap e2fsprogs qemu-utils python3-openstackclient; do
	dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if ((${#need[@]})); then
	sudo_ apt-get update -q
	sudo_ env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}"
fi
if openstack image show debian-12 >/dev/null 2>&1; then
	echo "image debian-12 is there already"
	exit 0
fi
# The directory the tests' servertest.CachedBuild uses for the same script.
key=$(sha256sum scripts/build-debian-guest.sh | cut -c1-16)
dir=${XDG_CACHE_HOME:-$HOME/.cache}/sov/debian-guest-$key
if [ ! -f "$dir/root.qcow2" ]; then
	echo "== building the Debian image (a few minutes)"
	sudo_ scripts/build-debian-guest.sh "$dir.building"
	mv "$dir.building" "$dir"
fi
kernel=$(openstack image create --public --disk-format aki --container-format aki --file "$dir/vmlinuz" -f value -c id debian-12-kernel)
ramdisk=$(openstack image create --public --disk-format ari --container-format ari --file "$dir/initrd.img" -f value -c id debian-12-ramdisk)
openstack image create --public --disk-format qcow2 --container-format bare --file "$dir/root.qcow2" \
	--property kernel_id="$kernel" --property ramdisk_id="$ramdisk" --property os_command_line="root=/dev/vda console=ttyS0" \
	--property os_distro=debian --property os_version=12 --property os_admin_user=debian -f value -c id debian-12
echo "image debian-12 uploaded: log in as debian with your keypair's key"
