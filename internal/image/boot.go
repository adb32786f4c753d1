package image

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/policy"
)

// BootImage is what compute needs of an image to boot a server from it.
type BootImage struct {
	ID, Name   string
	DiskFormat string
	// Path is the image data file.
	Path            string
	VirtualSize     int64
	MinDisk, MinRAM int
	Properties      map[string]string
}

// ForBootID returns an active image by id without a caller's view: for
// servers whose images were checked when they were created.
func (s *Service) ForBootID(ctx context.Context, id string) (*BootImage, error) {
	img, err := s.loadImage(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	return bootImage(s, img)
}

func bootImage(s *Service, img *image) (*BootImage, error) {
	if img.Status != statusActive || img.File == "" {
		return nil, errorf(http.StatusConflict, "Image %s is not active.", img.ID)
	}
	b := &BootImage{ID: img.ID, Name: deref(img.Name), DiskFormat: deref(img.DiskFormat), Path: s.dataPath(img.File),
		MinDisk: img.MinDisk, MinRAM: img.MinRAM, Properties: img.Properties}
	if img.VirtualSize != nil {
		b.VirtualSize = *img.VirtualSize
	}
	return b, nil
}

// ForBoot returns an active image the token's project may use; unknown,
// invisible and unusable images are errors with a status and message.
func (s *Service) ForBoot(ctx context.Context, c *policy.Credentials, id string) (*BootImage, error) {
	img, err := s.loadImage(ctx, s.db, id)
	if err != nil {
		return nil, err
	}
	if ok, err := s.canSee(ctx, c, img); err != nil || !ok {
		if err == nil {
			err = errorf(http.StatusNotFound, "No image found with ID %s", id)
		}
		return nil, err
	}
	return bootImage(s, img)
}
