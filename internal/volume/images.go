package volume

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/diskimage"
)

// imageSource is an image a volume is made from: its data, open (so an
// image deleted meanwhile is still read whole), inspected as compute
// inspects images before boot.
type imageSource struct {
	file   *os.File
	format string // raw or qcow2
	minGiB int    // the volume's least size: the image's virtual size, or its min_disk
	meta   map[string]string
}

// imageSnapshot is the snapshot of the boot volume that the image id
// the caller may use maps, if it is Nova's image of a volume-backed
// server ("" for another image).
func (s *Service) imageSnapshot(ctx context.Context, q *request, id string) (string, error) {
	img, err := s.images.ForBoot(ctx, q.creds, id)
	if err != nil {
		return "", err
	}
	raw, ok := img.Properties["block_device_mapping"]
	if !ok || !strings.EqualFold(img.Properties["bdm_v2"], "true") {
		return "", nil
	}
	var maps []struct {
		SourceType string `json:"source_type"`
		SnapshotID string `json:"snapshot_id"`
		BootIndex  *int   `json:"boot_index"`
	}
	json.Unmarshal([]byte(raw), &maps)
	for _, m := range maps {
		if m.SourceType == "snapshot" && m.BootIndex != nil && *m.BootIndex == 0 {
			return m.SnapshotID, nil
		}
	}
	return "", errorf(http.StatusBadRequest, "Invalid image: image %s maps no snapshot to boot from.", id)
}

// imageSource opens the image the caller may use, or refuses it: unknown
// or invisible (404), not active (409), not a disk format a volume can
// hold, or unsafe (400).
func (s *Service) imageSource(ctx context.Context, q *request, id string) (*imageSource, error) {
	img, err := s.images.ForBoot(ctx, q.creds, id)
	if err != nil {
		return nil, err
	}
	if img.DiskFormat != "raw" && img.DiskFormat != "qcow2" {
		return nil, errorf(http.StatusBadRequest, "Invalid image: the image's disk format %s cannot become a volume; raw and qcow2 can.", img.DiskFormat)
	}
	f, err := os.Open(img.Path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err == nil {
		var info diskimage.Info
		if info, err = diskimage.Check(img.DiskFormat, f, fi.Size()); err == nil {
			src := &imageSource{file: f, format: info.Format, minGiB: int((info.VirtualSize + gib - 1) / gib),
				meta: map[string]string{"image_id": img.ID, "image_name": img.Name, "disk_format": img.DiskFormat,
					"min_disk": strconv.Itoa(img.MinDisk), "min_ram": strconv.Itoa(img.MinRAM), "size": strconv.FormatInt(fi.Size(), 10)}}
			src.minGiB = max(src.minGiB, img.MinDisk, 1)
			for k, v := range img.Properties {
				if _, ok := src.meta[k]; !ok {
					src.meta[k] = v
				}
			}
			return src, nil
		}
		if diskimage.IsRefused(err) {
			err = errorf(http.StatusBadRequest, "Invalid image: %s", err.Error())
		}
	}
	f.Close()
	return nil, err
}
