package objectstore_test

import (
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// awsSubresources are the query parameters that select an operation in
// the AWS S3 API reference.
var awsSubresources = []string{"accelerate", "acl", "analytics", "attributes", "cors", "delete", "encryption",
	"intelligent-tiering", "inventory", "legal-hold", "lifecycle", "location", "logging", "metadataConfiguration",
	"metadataTable", "metrics", "notification", "object-lock", "ownershipControls", "policy", "policyStatus",
	"publicAccessBlock", "renameObject", "replication", "requestPayment", "restore", "retention", "select", "session",
	"tagging", "torrent", "uploadId", "uploads", "versioning", "versions", "website"}

// implemented are the operations of the walk that sov has (tested elsewhere).
var implemented = map[string]bool{
	"PUT /b?versioning": true, "PUT /b?policy": true, "PUT /b?cors": true, "PUT /b?tagging": true, "PUT /b?acl": true,
	"GET /b?location": true, "GET /b?versioning": true, "GET /b?versions": true, "GET /b?uploads": true, "GET /b?policy": true,
	"GET /b?cors": true, "GET /b?tagging": true, "GET /b?acl": true, "DELETE /b?policy": true, "DELETE /b?cors": true,
	"DELETE /b?tagging": true, "POST /b?delete": true,
	"PUT /b/k?uploadId": true, "PUT /b/k?tagging": true, "PUT /b/k?acl": true, "GET /b/k?uploadId": true, "GET /b/k?tagging": true,
	"PUT /b?publicAccessBlock": true, "GET /b?publicAccessBlock": true, "DELETE /b?publicAccessBlock": true,
	"PUT /b?ownershipControls": true, "GET /b?ownershipControls": true, "DELETE /b?ownershipControls": true,
	"PUT /b?lifecycle": true, "GET /b?lifecycle": true, "DELETE /b?lifecycle": true,
	"PUT /b?object-lock": true, "GET /b?object-lock": true, "PUT /b/k?retention": true, "GET /b/k?retention": true,
	"PUT /b/k?legal-hold": true, "GET /b/k?legal-hold": true,
	"PUT /b?encryption": true, "GET /b?encryption": true, "DELETE /b?encryption": true,
	"PUT /b?website": true, "GET /b?website": true, "DELETE /b?website": true,
	"GET /b/k?acl": true, "GET /b/k?attributes": true, "POST /b/k?uploads": true, "POST /b/k?uploadId": true, "DELETE /b/k?uploadId": true, "DELETE /b/k?tagging": true,
}

// TestNothingFallsThrough walks every subresource AWS defines with every
// method, on a bucket and on an object: none that sov does not implement
// answers anything but an error, and none changes the object, the bucket
// or its listing. Headers asking for missing features are refused too.
func TestNothingFallsThrough(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("walk")})
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("walk"), Key: aws.String("k"), Body: strings.NewReader("original")})
	wantCode(t, "put", err, "")
	unchanged := func(what string) {
		t.Helper()
		out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("walk"), Key: aws.String("k")})
		if err != nil {
			t.Fatalf("after %s the object is gone: %v", what, err)
		}
		b, _ := io.ReadAll(out.Body)
		out.Body.Close()
		list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("walk")})
		if string(b) != "original" || err != nil || len(list.Contents) != 1 {
			t.Fatalf("after %s: object %q, %d keys, %v", what, b, len(list.Contents), err)
		}
	}
	methods := []string{http.MethodGet, http.MethodPut, http.MethodPost, http.MethodDelete, http.MethodHead}
	sort.Strings(awsSubresources)
	for _, sub := range awsSubresources {
		for _, path := range []string{"/walk", "/walk/k"} {
			for _, m := range methods {
				name := m + " " + strings.Replace(path, "walk", "b", 1) + "?" + sub
				if implemented[name] {
					continue
				}
				body := ""
				if m == http.MethodPut || m == http.MethodPost {
					body = `<?xml version="1.0"?><Anything><Days>1</Days></Anything>`
				}
				code, resp := signedRaw(t, srv, tn, m, path+"?"+sub, body)
				if code != http.StatusNotImplemented && code != http.StatusMethodNotAllowed && code != http.StatusBadRequest {
					t.Errorf("%s = %d %.200s, want NotImplemented", name, code, resp)
				}
				if m != http.MethodHead && !strings.Contains(resp, "<Code>NotImplemented</Code>") && !strings.Contains(resp, "<Code>MethodNotAllowed</Code>") {
					t.Errorf("%s answered %.200s", name, resp)
				}
				unchanged(name)
			}
		}
	}
	// Configuration of a bucket that does not exist creates nothing.
	if code, _ := signedRaw(t, srv, tn, http.MethodPut, "/ghost?lifecycle", `<LifecycleConfiguration/>`); code != http.StatusNotFound {
		t.Errorf("PUT lifecycle on a missing bucket = %d", code)
	}
	if _, err := c.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String("ghost")}); err == nil {
		t.Error("a lifecycle PUT created a bucket")
	}
	// A POST to the bucket that is not a form upload stores nothing.
	if code, _ := signedRaw(t, srv, tn, "POST", "/walk", "key=k&file=x"); code != http.StatusPreconditionFailed {
		t.Errorf("a POST that is not multipart/form-data = %d, want 412", code)
	}
	// Uploads asking for SSE-KMS or another storage class are refused,
	// not stored in plain; object lock on a bucket without it too.
	for _, h := range []struct{ name, code string }{
		{"SSEKMS", "NotImplemented"}, {"Lock", "InvalidRequest"}, {"StorageClass", "NotImplemented"},
	} {
		in := &s3.PutObjectInput{Bucket: aws.String("walk"), Key: aws.String("new"), Body: strings.NewReader("secret")}
		switch h.name {
		case "SSEKMS":
			in.ServerSideEncryption, in.SSEKMSKeyId = "aws:kms", aws.String("key")
		case "Lock":
			in.ObjectLockMode, in.ObjectLockRetainUntilDate = "GOVERNANCE", aws.Time(time.Now().Add(time.Hour))
		case "StorageClass":
			in.StorageClass = "GLACIER"
		}
		_, err := c.PutObject(ctx, in)
		wantCode(t, "put with "+h.name, err, h.code)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("walk"), Key: aws.String("new")}); err == nil {
		t.Error("a refused upload was stored")
	}
	unchanged("the refused uploads")
}
