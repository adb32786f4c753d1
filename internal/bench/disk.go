package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// DiskWrite measures the raw sequential write rate of the disk under dir:
// total bytes in 1 MiB writes to a new file, then fsync, as S3 writes an
// object. It returns MB/s.
func DiskWrite(dir string, total int64) (float64, error) {
	f, err := os.CreateTemp(dir, "sov-bench-disk-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := Payload(1 << 20)
	start := time.Now()
	for written := int64(0); written < total; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds() / 1e6, nil
}

// DiskRead measures reading a file of total bytes written before (the page
// cache may serve it, as it serves S3 GETs). It returns MB/s.
func DiskRead(dir string, total int64) (float64, error) {
	path := filepath.Join(dir, fmt.Sprintf("sov-bench-read-%d", time.Now().UnixNano()))
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer os.Remove(path)
	buf := Payload(1 << 20)
	for written := int64(0); written < total; written += int64(len(buf)) {
		if _, err := f.Write(buf); err != nil {
			f.Close()
			return 0, err
		}
	}
	f.Sync()
	f.Close()
	f, err = os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	start := time.Now()
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err != nil {
			break
		}
	}
	return float64(n) / time.Since(start).Seconds() / 1e6, nil
}
