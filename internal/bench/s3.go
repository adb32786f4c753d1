package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// S3Target is the S3 endpoint to measure, its keys and a bucket to use.
type S3Target struct {
	Endpoint, AccessKey, SecretKey, Region, Bucket string
	// SignPayload makes the client hash every body into its signature, as
	// SDKs do over plain HTTP; without it the client sends UNSIGNED-PAYLOAD
	// with a checksum, as SDKs do over HTTPS.
	SignPayload bool
	// SSE asks for server-side encryption of the objects written: "" for
	// none, "AES256" for SSE-S3.
	SSE string
}

// S3 drives an S3 endpoint with aws-sdk-go-v2, path style.
type S3 struct {
	c      *s3.Client
	bucket string
	sse    types.ServerSideEncryption
	seq    atomic.Int64
}

// NewS3 returns a client for the target and makes sure its bucket exists.
func NewS3(ctx context.Context, t S3Target) (*S3, error) {
	if t.Region == "" {
		t.Region = "us-east-1"
	}
	var opts []func(*s3.Options)
	if !t.SignPayload {
		opts = append(opts, s3.WithAPIOptions(v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware))
	}
	c := s3.New(s3.Options{BaseEndpoint: aws.String(t.Endpoint), Region: t.Region, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(t.AccessKey, t.SecretKey, ""),
		// The SDK's defaults under config.LoadDefaultConfig: CRC32 on uploads, checked on downloads.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenSupported}, opts...)
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(t.Bucket)}); err != nil {
		if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(t.Bucket)}); err != nil {
			return nil, fmt.Errorf("create bucket %s: %w", t.Bucket, err)
		}
	}
	return &S3{c: c, bucket: t.Bucket, sse: types.ServerSideEncryption(t.SSE)}, nil
}

// Payload returns size random bytes.
func Payload(size int) []byte {
	b := make([]byte, size)
	rand.Read(b)
	return b
}

// Put stores data under a new key with the prefix and returns the key.
func (s *S3) Put(ctx context.Context, prefix string, data []byte) (string, error) {
	key := fmt.Sprintf("%s/%09d", prefix, s.seq.Add(1))
	out, err := s.c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data))), ServerSideEncryption: s.sse})
	if err == nil && out.ServerSideEncryption != s.sse {
		err = fmt.Errorf("PUT %s: stored with encryption %q, asked %q", key, out.ServerSideEncryption, s.sse)
	}
	return key, err
}

// Get reads an object to the end and checks that it is want: a short,
// long or different body is an error.
func (s *S3) Get(ctx context.Context, key string, want []byte) error {
	out, err := s.c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	if out.ServerSideEncryption != s.sse {
		return fmt.Errorf("GET %s: encryption %q, want %q", key, out.ServerSideEncryption, s.sse)
	}
	m := &matcher{want: want}
	if _, err := io.Copy(m, out.Body); err != nil {
		return err
	}
	if m.off != len(want) {
		return fmt.Errorf("GET %s: %d bytes, want %d", key, m.off, len(want))
	}
	return nil
}

// matcher compares what is written to it with want, as it streams.
type matcher struct {
	want []byte
	off  int
}

func (m *matcher) Write(p []byte) (int, error) {
	if m.off+len(p) > len(m.want) || !bytes.Equal(p, m.want[m.off:m.off+len(p)]) {
		return 0, fmt.Errorf("body differs from what was written at byte %d", m.off)
	}
	m.off += len(p)
	return len(p), nil
}

// ListAll lists every key under prefix, 1000 a page, and returns how many.
func (s *S3) ListAll(ctx context.Context, prefix string) (int, error) {
	n := 0
	p := s3.NewListObjectsV2Paginator(s.c, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return n, err
		}
		n += len(page.Contents)
	}
	return n, nil
}

// Fill puts objects of size under prefix with concurrency c until there are n.
func (s *S3) Fill(ctx context.Context, prefix string, n, size, c int) error {
	data := Payload(size)
	var left atomic.Int64
	left.Store(int64(n))
	errs := make(chan error, c)
	for range c {
		go func() {
			for left.Add(-1) >= 0 {
				if _, err := s.Put(ctx, prefix, data); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	var first error
	for range c {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// MBps is the data rate of a load run that moved size bytes per request.
func (r Result) MBps(size int) float64 {
	return float64(r.Requests-r.Errors) * float64(size) / r.Elapsed.Seconds() / 1e6
}

// Elapsed runs fn once and returns how long it took.
func Elapsed(fn func() error) (time.Duration, error) {
	t := time.Now()
	err := fn()
	return time.Since(t), err
}
