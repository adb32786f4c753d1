#!/usr/bin/env bash
# Builds sov's tiny test guest from Debian packages: the Debian cloud kernel
# and an initramfs of busybox-static with the few kernel modules it needs.
# The guest reads its OpenStack config drive, prints its instance uuid and
# hostname to the serial console, runs a shell-script user_data, takes a
# DHCP address and answers HTTP on port 80 with its uuid.
#
#   scripts/build-test-guest.sh OUT_DIR    -> OUT_DIR/vmlinuz, OUT_DIR/initrd.img
set -euo pipefail
# What it makes is read by others (a guest's users, the tests): whatever
# umask the caller has (sov's tests run under sov's 077).
umask 022
out=${1:?usage: build-test-guest.sh OUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
kver=$(ls /lib/modules | grep -- '-cloud-amd64$' | sort -V | tail -n 1)
[ -n "$kver" ] || { echo "linux-image-cloud-amd64 is not installed" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,mnt,tmp,www,lib/modules}
cp /bin/busybox "$root/bin/busybox"
# Modules in load order (dependencies first).
for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net cdrom isofs; do
	cp "$(modinfo -k "$kver" -F filename "$m")" "$root/lib/modules/$m.ko"
	echo "$m" >>"$root/lib/modules/order"
done
install -m 0755 "$here/testdata/guest/init" "$root/init"
install -m 0755 "$here/testdata/guest/udhcpc.script" "$root/bin/udhcpc.script"
mkdir -p "$out"
(cd "$root" && find . -print0 | sort -z | cpio --null --quiet -o -H newc --reproducible) | gzip -n -9 >"$out/initrd.img.tmp"
cp "/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
echo "built test guest with kernel $kver in $out"
