#!/usr/bin/env bash
# Builds a small Debian cloud image from Debian packages: debootstrap of
# bookworm with the cloud kernel, cloud-init and openssh-server. Nova boots
# it as an AMI-style image: a kernel (aki), a ramdisk (ari) and a root file
# system without a partition table (qcow2, root=/dev/vda). cloud-init finds
# the OpenStack datasource by the SMBIOS product sov gives its VMs, takes
# its network, keys and user data from the metadata service (or a config
# drive), and makes the user "debian" with the key.
#
#   scripts/build-debian-guest.sh OUT_DIR -> OUT_DIR/vmlinuz, initrd.img, root.qcow2
#
# Needs root (debootstrap), debootstrap, qemu-utils and e2fsprogs.
set -euo pipefail
# What it makes is read by others (a guest's users, the tests): whatever
# umask the caller has (sov's tests run under sov's 077).
umask 022
out=${1:?usage: build-debian-guest.sh OUT_DIR}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
work=$(mktemp -d)
root=$work/root
# Whatever debootstrap left mounted in the tree goes before the tree does.
cleanup() {
	{ grep -o " $root/[^ ]*" /proc/mounts || true; } | sort -r | xargs -r umount -l
	rm -rf "$work"
}
trap cleanup EXIT

# debootstrap resolves no virtual packages: python3-cffi-backend provides
# the ABI python3-cryptography (of cloud-init) depends on.
debootstrap --variant=minbase \
	--include=python3-cffi-backend,systemd-sysv,udev,linux-image-cloud-amd64,initramfs-tools,cloud-init,openssh-server,ifupdown,isc-dhcp-client,iproute2,netbase,sudo,ca-certificates \
	bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 40 "$work/debootstrap.log" >&2
	exit 1
}

# The root is the whole disk; systemd mounts it read-write from here.
echo '/dev/vda / ext4 rw,errors=remount-ro 0 1' >"$root/etc/fstab"
echo debian >"$root/etc/hostname"
# cloud-init writes the network configuration; the loopback is ours.
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' >"$root/etc/network/interfaces"
# QEMU-FACTS: cloud-init needs a UTF-8 locale; one host key type saves ~11 s under TCG.
cat >"$root/etc/cloud/cloud.cfg.d/90-sov.cfg" <<'EOF'
locale: C.UTF-8
ssh_genkeytypes: [ed25519]
datasource_list: [ConfigDrive, OpenStack, None]
EOF
# Host keys are the instance's own, made by cloud-init at first boot.
rm -f "$root"/etc/ssh/ssh_host_*
# No package caches or logs in the image.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log

kver=$(ls "$root/lib/modules" | sort -V | tail -n 1)
mkdir -p "$out"
cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz.tmp"
cp "$root/boot/initrd.img-$kver" "$out/initrd.img.tmp"
# A file system image of the tree, made without mounting anything.
mkfs.ext4 -q -F -L root -d "$root" "$work/root.raw" 2G
qemu-img convert -O qcow2 "$work/root.raw" "$out/root.qcow2.tmp"
mv "$out/vmlinuz.tmp" "$out/vmlinuz"
mv "$out/initrd.img.tmp" "$out/initrd.img"
mv "$out/root.qcow2.tmp" "$out/root.qcow2"
echo "built Debian guest with kernel $kver in $out"
