package image

import (
	"context"
	"crypto/md5"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/sovcloud/sov/internal/diskimage"
	"github.com/sovcloud/sov/internal/policy"
	"github.com/sovcloud/sov/internal/store"
)

// maxImageSize is the largest image upload accepted.
const maxImageSize = 1 << 40

func (s *Service) dataPath(name string) string { return filepath.Join(s.dir, name) }

func (s *Service) removeData(img *image) {
	if img.File != "" {
		os.Remove(s.dataPath(img.File))
	}
}

// uploadData serves PUT /v2/images/{id}/file: the data goes to a temporary
// file, fsynced and renamed, before the image becomes active.
func (s *Service) uploadData(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.ownedImage(r, c)
	if err != nil {
		return err
	}
	if img.Status != statusQueued {
		return errorf(http.StatusConflict, "Image status transition from %s to saving is not allowed", img.Status)
	}
	if img.DiskFormat == nil || img.ContainerFormat == nil {
		return errorf(http.StatusBadRequest, "Properties disk_format, container_format must be set prior to saving data.")
	}
	if err := s.receive(r.Context(), img, r.Body, r.ContentLength); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// receive stores a queued image's data, read from body (length bytes, or
// -1 when unknown): in a temporary file, counted against the owner's
// quota, inspected, synced and renamed, before the image becomes active.
func (s *Service) receive(ctx context.Context, img *image, body io.Reader, length int64) error {
	room, err := s.uploadRoom(ctx, img.Owner)
	if err != nil {
		return err
	}
	limit := int64(maxImageSize)
	if room >= 0 && room < limit {
		limit = room
	}
	f, err := createUploadFile(filepath.Join(s.dir, "tmp"), img.ID)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	md5sum, sha := md5.New(), sha512.New()
	n, err := io.Copy(io.MultiWriter(f, md5sum, sha), io.LimitReader(body, limit+1))
	if err != nil {
		return errorf(http.StatusBadRequest, "Error reading the image data: %v", err)
	}
	if n > limit {
		if limit < maxImageSize {
			return errorf(http.StatusRequestEntityTooLarge, "Image exceeds the storage quota: project %s may store %d more bytes of image data (image_size_total).", img.Owner, room)
		}
		return errorf(http.StatusRequestEntityTooLarge, "Image exceeds the largest image size.")
	}
	if length >= 0 && n != length {
		return errorf(http.StatusBadRequest, "Image data is shorter than its Content-Length.")
	}
	info, err := diskimage.Check(*img.DiskFormat, f, n)
	if diskimage.IsRefused(err) {
		return errorf(http.StatusBadRequest, "Image data refused: %v", err)
	}
	if err != nil {
		return err
	}
	virtual := info.VirtualSize
	if err := f.Sync(); err != nil {
		return err
	}
	name := img.ID + "-" + hex.EncodeToString(sha.Sum(nil))[:16]
	if err := os.Rename(f.Name(), s.dataPath(name)); err != nil {
		return err
	}
	if err := syncDir(s.dir); err != nil {
		return err
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		cur, err := s.loadImage(ctx, tx, img.ID)
		if err != nil {
			return err
		}
		if cur.Status != statusQueued {
			return errorf(http.StatusConflict, "Image status transition from %s to active is not allowed", cur.Status)
		}
		sum, hashValue, algo := hex.EncodeToString(md5sum.Sum(nil)), hex.EncodeToString(sha.Sum(nil)), "sha512"
		cur.Status, cur.Size, cur.VirtualSize, cur.File = statusActive, &n, &virtual, name
		cur.Checksum, cur.HashValue, cur.HashAlgo = &sum, &hashValue, &algo
		return s.saveImage(ctx, tx, cur)
	})
	if err != nil {
		os.Remove(s.dataPath(name))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusGone, "Image %s was deleted during the upload.", img.ID)
		}
		return err
	}
	return nil
}

// createUploadFile creates the temporary file of an upload, locked for as
// long as the uploading process lives (flock), so that a start of sov on
// the same directory can tell abandoned files from ones being written.
func createUploadFile(dir, id string) (*os.File, error) {
	f, err := os.CreateTemp(dir, id+"-*")
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// removeAbandonedUploads deletes the temporary files that no live upload
// holds: those left by a crash or kill in the middle of an upload.
func removeAbandonedUploads(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) == nil && os.Remove(path) == nil {
			n++
		}
		f.Close()
	}
	return n
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// downloadData serves GET /v2/images/{id}/file, with ranges.
func (s *Service) downloadData(w http.ResponseWriter, r *http.Request, c *policy.Credentials) error {
	img, err := s.visibleImage(r, c)
	if err != nil {
		return err
	}
	if img.Status == statusDeactivated && !isAdmin(c) {
		return errorf(http.StatusForbidden, "The requested image has been deactivated. Image data download is forbidden.")
	}
	if img.File == "" {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	f, err := os.Open(s.dataPath(img.File))
	if err != nil {
		return err
	}
	defer f.Close()
	w.Header().Set("Content-Type", "application/octet-stream")
	if img.Checksum != nil {
		w.Header().Set("Content-MD5", *img.Checksum)
	}
	http.ServeContent(w, r, "", time.Time{}, f)
	return nil
}
