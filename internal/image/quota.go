package image

import (
	"context"
	"encoding/json"
	"net/http"
)

// Per-project quotas, as Glance keeps them: Keystone unified limits of
// the image service, image_count_total (images a project owns) and
// image_size_total (MiB of image data it stores). These are the defaults
// registered at first start; an admin changes them, for everyone or per
// project, with `openstack registered limit set` and `openstack limit create`.
const (
	defaultImageCount  = 100
	defaultImageSizeMB = 100 << 10 // 100 GiB
)

func (s *Service) registerLimits(ctx context.Context) error {
	if err := s.identity.RegisterLimit(ctx, "image", "image_count_total", defaultImageCount, "Images a project may own."); err != nil {
		return err
	}
	return s.identity.RegisterLimit(ctx, "image", "image_size_total", defaultImageSizeMB, "MiB of image data a project may store.")
}

// usage returns how many images a project owns and the bytes of their data.
func (s *Service) usage(ctx context.Context, project string) (count int, bytes int64, err error) {
	rows, err := s.db.Query(ctx, `SELECT doc FROM images WHERE owner = ?`, project)
	if err != nil {
		return 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var doc string
		if err := rows.Scan(&doc); err != nil {
			return 0, 0, err
		}
		var img struct{ Size *int64 }
		json.Unmarshal([]byte(doc), &img)
		count++
		if img.Size != nil {
			bytes += *img.Size
		}
	}
	return count, bytes, rows.Err()
}

func overLimit(project, resource string, limit, usage, delta int64) error {
	return errorf(http.StatusRequestEntityTooLarge, "Project %s is over a limit for [Resource %s is over limit of %d due to current usage %d and delta %d]",
		project, resource, limit, usage, delta)
}

// checkCount refuses one more image for a project at its image_count_total.
func (s *Service) checkCount(ctx context.Context, project string) error {
	limit, ok, err := s.identity.Limit(ctx, "image", project, "image_count_total")
	if err != nil || !ok {
		return err
	}
	n, _, err := s.usage(ctx, project)
	if err != nil {
		return err
	}
	if int64(n)+1 > limit {
		return overLimit(project, "image_count_total", limit, int64(n), 1)
	}
	return nil
}

// uploadRoom returns how many bytes a project may still upload (-1: no
// limit), or the 413 when it has none left.
func (s *Service) uploadRoom(ctx context.Context, project string) (int64, error) {
	limit, ok, err := s.identity.Limit(ctx, "image", project, "image_size_total")
	if err != nil || !ok {
		return -1, err
	}
	_, used, err := s.usage(ctx, project)
	if err != nil {
		return 0, err
	}
	room := limit<<20 - used
	if room <= 0 {
		return 0, overLimit(project, "image_size_total", limit, (used+1<<20-1)>>20, 1)
	}
	return room, nil
}
