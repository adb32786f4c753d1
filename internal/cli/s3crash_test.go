package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ec2Keys makes an EC2 credential for the admin in the admin project.
func ec2Keys(t *testing.T, authURL, token, userID, projectID string) (access, secret string) {
	t.Helper()
	req, _ := http.NewRequest("POST", authURL+"/users/"+userID+"/credentials/OS-EC2", strings.NewReader(fmt.Sprintf(`{"tenant_id": %q}`, projectID)))
	req.Header.Set("X-Auth-Token", token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Credential struct{ Access, Secret string }
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 201 {
		t.Fatalf("ec2 credential = %d, %v", resp.StatusCode, err)
	}
	return out.Credential.Access, out.Credential.Secret
}

// slowReader yields size bytes slowly and counts what it gave.
type slowReader struct {
	left int64
	sent atomic.Int64
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	time.Sleep(time.Millisecond)
	n := min(int64(len(p)), r.left, 64<<10)
	r.left -= n
	r.sent.Add(n)
	return int(n), nil
}

// TestKillDuringUploads kills sov with SIGKILL while an object and a
// multipart part are being uploaded. After a restart every acknowledged
// object is there with its content, the interrupted ones are not, and no
// object data is left on disk that no object names.
func TestKillDuringUploads(t *testing.T) {
	dir := t.TempDir()
	cmd, authURL, s3URL := sovProcess(t, dir)
	pw, _ := os.ReadFile(filepath.Join(dir, "admin-password"))
	tok, user, project := adminToken(t, authURL, strings.TrimSpace(string(pw)))
	access, secret := ec2Keys(t, authURL, tok, user, project)
	client := func(url string) *s3.Client {
		return s3.New(s3.Options{BaseEndpoint: aws.String(url), Region: "us-east-1", UsePathStyle: true,
			Credentials: credentials.NewStaticCredentialsProvider(access, secret, ""), RetryMaxAttempts: 1})
	}
	c := client(s3URL)
	ctx := context.Background()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("crash")}); err != nil {
		t.Fatal(err)
	}
	// Small objects live in the metadata row, larger ones in files.
	acked := map[string]string{}
	files := 0
	for i := range 10 {
		size := 1000 + i
		if i%2 == 1 {
			size, files = 100<<10+i, files+1
		}
		key, body := fmt.Sprintf("done-%d", i), strings.Repeat(fmt.Sprint(i), size)
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String(key), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		acked[key] = body
	}
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("crash"), Key: aws.String("multi")})
	if err != nil {
		t.Fatal(err)
	}
	// Two uploads in flight when the process dies.
	slowPut, slowPart := &slowReader{left: 64 << 20}, &slowReader{left: 64 << 20}
	go c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("crash"), Key: aws.String("partial"), Body: slowPut, ContentLength: aws.Int64(64 << 20)})
	go c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("crash"), Key: aws.String("multi"), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: slowPart, ContentLength: aws.Int64(64 << 20)})
	for slowPut.sent.Load() < 1<<20 || slowPart.sent.Load() < 1<<20 {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()

	_, _, s3URL = sovProcess(t, dir)
	c = client(s3URL)
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("crash")})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Contents) != len(acked) {
		t.Errorf("after the crash %d objects are listed, want the %d acknowledged ones", len(out.Contents), len(acked))
	}
	for key, want := range acked {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("crash"), Key: aws.String(key)})
		if err != nil {
			t.Fatalf("acknowledged %s lost: %v", key, err)
		}
		got, _ := io.ReadAll(o.Body)
		o.Body.Close()
		if !bytes.Equal(got, []byte(want)) {
			t.Errorf("%s: %d bytes, want %d", key, len(got), len(want))
		}
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("crash"), Key: aws.String("partial")}); err == nil {
		t.Error("the interrupted PUT is visible")
	}
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("crash"), Key: aws.String("multi"), UploadId: up.UploadId})
	if err != nil || len(parts.Parts) != 0 {
		t.Errorf("parts of the interrupted upload = %+v, %v", parts, err)
	}
	// No leaked data: one file per large object, nothing in tmp.
	found := 0
	filepath.WalkDir(filepath.Join(dir, "objects"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found++
		}
		return nil
	})
	if found != files {
		t.Errorf("%d data files after restart, want %d (one per large object)", found, files)
	}
}
