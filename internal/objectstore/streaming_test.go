package objectstore_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7/pkg/signer"
)

// sha256Hasher adapts crypto/sha256 to minio-go's hasher interface.
type sha256Hasher struct{ hash.Hash }

func (sha256Hasher) Close() {}

// TestSignedStreamingWithTrailer sends bodies signed chunk by chunk with a
// signed CRC32 trailer (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), as
// minio-go's signer makes them, and tampered variants of them.
func TestSignedStreamingWithTrailer(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("stream")})
	body := bytes.Repeat([]byte("chunk of data "), 10000) // several 64 KiB chunks
	crc := crc32.ChecksumIEEE(body)
	good := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	send := func(key, checksum string, tamper func([]byte) []byte) (int, string) {
		req, _ := http.NewRequest("PUT", srv.S3URL+"/stream/"+key, bytes.NewReader(body))
		req.ContentLength = -1
		req.Trailer = http.Header{"X-Amz-Checksum-Crc32": {checksum}}
		req = signer.StreamingSignV4(req, tn.Access, tn.Secret, "", "us-east-1", int64(len(body)), time.Now().UTC(), sha256Hasher{sha256.New()})
		if tamper != nil {
			signed, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(tamper(signed)))
			req.ContentLength = int64(len(signed))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, b := send("good", good, nil); status != 200 {
		t.Fatalf("signed streaming PUT = %d %s", status, b)
	}
	got, _ := getBody(t, c, &s3.GetObjectInput{Bucket: aws.String("stream"), Key: aws.String("good")})
	if got != string(body) {
		t.Errorf("stored %d bytes, want %d", len(got), len(body))
	}
	if status, b := send("bad-crc", "AAAAAA==", nil); status != 400 || !strings.Contains(b, "BadDigest") {
		t.Errorf("wrong trailer checksum = %d %s", status, b)
	}
	flip := func(signed []byte) []byte {
		i := bytes.Index(signed, []byte("chunk of data"))
		signed[i] ^= 1
		return signed
	}
	if status, b := send("tampered", good, flip); status != 403 || !strings.Contains(b, "SignatureDoesNotMatch") {
		t.Errorf("tampered chunk = %d %s", status, b)
	}
	for _, key := range []string{"bad-crc", "tampered"} {
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("stream"), Key: aws.String(key)}); err == nil {
			t.Errorf("%s was stored", key)
		}
	}
}
