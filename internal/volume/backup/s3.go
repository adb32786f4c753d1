package backup

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 is a repository in a bucket of an S3 endpoint (sov's own by
// default), reached with minio-go as any S3 client would.
type S3 struct {
	client *minio.Client
	bucket string
}

// NewS3 returns the repository in bucket at endpoint (http[s]://host:port)
// with the given keys, over transport (nil: the default); the bucket is
// made on first use.
func NewS3(endpoint, access, secret, bucket string, transport http.RoundTripper) (*S3, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("backup: bad S3 endpoint %q", endpoint)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(access, secret, ""), Secure: u.Scheme == "https",
		BucketLookup: minio.BucketLookupPath, Transport: transport})
	if err != nil {
		return nil, err
	}
	return &S3{client: c, bucket: bucket}, nil
}

// Bucket is the repository's bucket.
func (s *S3) Bucket() string { return s.bucket }

// ensureBucket makes the bucket unless the repository owns it already.
func (s *S3) ensureBucket(ctx context.Context) error {
	err := s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{})
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code == "BucketAlreadyOwnedByYou" {
		return nil
	}
	return err
}

// Put stores an object, making the bucket if it is not there.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	put := func() error {
		_, err := s.client.PutObject(ctx, s.bucket, key, bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		return err
	}
	err := put()
	if minio.ToErrorResponse(err).Code == "NoSuchBucket" {
		if err := s.ensureBucket(ctx); err != nil {
			return err
		}
		err = put()
	}
	return err
}

// Get reads an object.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	o, err := s.client.GetObject(ctx, s.bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, err
	}
	defer o.Close()
	b, err := io.ReadAll(o)
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
		return nil, fmt.Errorf("backup: %s: %w", key, os.ErrNotExist)
	}
	return b, err
}

// Delete removes an object; a missing one is fine.
func (s *S3) Delete(ctx context.Context, key string) error {
	err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
	if code := minio.ToErrorResponse(err).Code; code == "NoSuchKey" || code == "NoSuchBucket" {
		return nil
	}
	return err
}

// List is the keys under prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]string, error) {
	var keys []string
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			if minio.ToErrorResponse(o.Err).Code == "NoSuchBucket" {
				return nil, nil
			}
			return nil, o.Err
		}
		keys = append(keys, o.Key)
	}
	return keys, nil
}

// Handler is a transport that serves requests with an http.Handler in
// the process (sov's own S3), so the repository needs no listener, port
// or certificate: the requests still go through S3's signature checks.
type Handler struct{ http.Handler }

// RoundTrip serves the request and returns the response it wrote.
func (h Handler) RoundTrip(r *http.Request) (*http.Response, error) {
	w := &response{header: http.Header{}, status: http.StatusOK}
	if r.Body == nil {
		r.Body = http.NoBody
	}
	r.RequestURI = r.URL.RequestURI()
	h.ServeHTTP(w, r)
	return &http.Response{StatusCode: w.status, Status: http.StatusText(w.status), Header: w.header, Body: io.NopCloser(&w.body),
		ContentLength: int64(w.body.Len()), Request: r, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}, nil
}

// response is what a handler writes, kept in memory (a backup's objects
// are a chunk at most).
type response struct {
	header http.Header
	status int
	body   bytes.Buffer
	wrote  bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
}

func (w *response) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}
