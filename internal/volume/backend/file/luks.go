package file

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/volume/backend"
)

// Encrypted volumes: the qcow2 file holds a LUKS container, QEMU's luks
// format, which QEMU opens over the qcow2 node. The file stays sparse
// (only the header and what was written take room) and is copied as it
// is; what the guest wrote is on disk only encrypted. qemu-img gets the
// passphrase through a pipe (a secret object reading /dev/fd/N), never
// on its command line nor in a file.

// luksSuffix names the raw container a new encrypted volume starts as
// (beside its .tmp file), before it is converted into the qcow2 file.
const luksSuffix = ".luks"

// iterMillis is how long deriving the container's key from the
// passphrase takes (PBKDF2, calibrated at create; each open takes as
// long). LUKS's default of 2 s stretches a password a person chose;
// these passphrases are random keys of 256 or 512 bits, which gain
// nothing from stretching, and each attach, start and resize would pay it.
const iterMillis = 50

// keyObject is the secret object of qemu-img's passphrase (fd 3).
const keyObject = "secret,id=key,file=/dev/fd/3"

// luksOpts are qemu-img's --image-opts of the container in the qcow2
// file path (commas doubled, as QEMU's option syntax escapes them).
func luksOpts(path string) string {
	return "driver=luks,key-secret=key,file.driver=qcow2,file.file.driver=file,file.file.filename=" + strings.ReplaceAll(path, ",", ",,")
}

// cipher is qemu's cipher-alg and cipher-mode for dm-crypt's cipher and
// key size: aes-xts-plain64 with 256 bits is AES-128 in XTS mode (XTS
// splits the key in two), with 512 AES-256.
func cipher(enc *backend.Encryption) (alg, mode string, err error) {
	if enc.Cipher != "aes-xts-plain64" {
		return "", "", fmt.Errorf("file: cipher %q is not supported", enc.Cipher)
	}
	switch enc.KeyBits {
	case 256:
		return "aes-128", "xts", nil
	case 512:
		return "aes-256", "xts", nil
	}
	return "", "", fmt.Errorf("file: a key of %d bits is not supported with %s", enc.KeyBits, enc.Cipher)
}

// createLUKS makes at tmp a qcow2 file holding a new, empty container of
// size bytes: qemu-img makes it raw beside (sparse: only its header is
// written), then copies it into the qcow2 file.
func createLUKS(ctx context.Context, tmp string, size int64, enc *backend.Encryption) error {
	alg, mode, err := cipher(enc)
	if err != nil {
		return err
	}
	raw := tmp + luksSuffix
	defer os.Remove(raw)
	if err := qemuImgKey(ctx, enc, nil, "create", "-q", "-f", "luks", "--object", keyObject,
		"-o", "key-secret=key,cipher-alg="+alg+",cipher-mode="+mode+",ivgen-alg=plain64,hash-alg=sha256,iter-time="+strconv.Itoa(iterMillis),
		raw, strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	return qemuImg(ctx, "convert", "-q", "-f", "raw", "-O", "qcow2", raw, tmp)
}

// importLUKS makes volume id of a raw container, grown to size: copied
// into the qcow2 file and grown inside, before the file takes its name.
func (d *Driver) importLUKS(ctx context.Context, id string, src *os.File, size int64, enc *backend.Encryption) error {
	if enc == nil {
		return fmt.Errorf("file: a container is imported with its passphrase")
	}
	return d.write(id, func(tmp string) error {
		cmd := exec.CommandContext(ctx, "qemu-img", "convert", "-q", "-f", "raw", "/dev/fd/3", "-O", "qcow2", tmp)
		cmd.ExtraFiles = []*os.File{src}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("file: qemu-img convert: %v: %s", err, strings.TrimSpace(string(out)))
		}
		return resize(ctx, tmp, "qcow2", size, enc)
	})
}

// qemuImgKey runs qemu-img with the passphrase readable at /dev/fd/3, and
// with first (if not nil) before it at fd 3 (the key then at fd 4).
//
// Making a LUKS header, QEMU calibrates its PBKDF2 iterations against the
// thread's CPU time; where that clock is coarse it may read no time at all
// and give up ("Unable to get accurate CPU usage"): that is tried again.
func qemuImgKey(ctx context.Context, enc *backend.Encryption, first *os.File, args ...string) error {
	for attempt := 1; ; attempt++ {
		out, err := qemuImgKeyOnce(ctx, enc, first, args...)
		if err == nil {
			return nil
		}
		if attempt < 3 && strings.Contains(string(out), "Unable to get accurate CPU usage") && first == nil {
			continue
		}
		return fmt.Errorf("file: qemu-img %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
}

func qemuImgKeyOnce(ctx context.Context, enc *backend.Encryption, first *os.File, args ...string) ([]byte, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// A pipe holds 64 KiB: the write does not wait for a reader.
	_, err = w.Write(enc.Passphrase)
	w.Close()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "qemu-img", args...)
	cmd.ExtraFiles = []*os.File{r}
	if first != nil {
		cmd.ExtraFiles = []*os.File{first, r}
	}
	return cmd.CombinedOutput()
}
