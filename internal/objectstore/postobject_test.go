package objectstore_test

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	miniocreds "github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"
)

// postForm posts a browser upload form, the file last, as a browser does.
func postForm(t *testing.T, target string, fields map[string]string, filename string, data []byte) (*http.Response, string) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	fw, _ := w.CreateFormFile("file", filename)
	fw.Write(data)
	w.Close()
	req, _ := http.NewRequest(http.MethodPost, target, &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func wantPost(t *testing.T, what string, resp *http.Response, body string, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || (code != "" && !strings.Contains(body, "<Code>"+code+"</Code>")) {
		t.Errorf("%s: %d %.300s, want %d %s", what, resp.StatusCode, body, status, code)
	}
}

func TestPostObject(t *testing.T) {
	t.Parallel()
	srv, c, tn := startS3(t, nil)
	c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("forms")})
	exists := func(key string) bool {
		_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String(key)})
		return err == nil
	}

	// aws-sdk-go-v2's presigned POST: a key prefix and a size range.
	ps := s3.NewPresignClient(c)
	post, err := ps.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("forms"), Key: aws.String("uploads/${filename}")},
		func(o *s3.PresignPostOptions) {
			o.Expires = 5 * time.Minute
			o.Conditions = []any{[]any{"starts-with", "$key", "uploads/"}, []any{"content-length-range", 1, 300 << 10}}
		})
	if err != nil {
		t.Fatal(err)
	}
	big := markedData("POSTED", 200<<10)
	resp, body := postForm(t, post.URL, post.Values, "photo.jpg", big)
	wantPost(t, "SDK presigned post", resp, body, http.StatusNoContent, "")
	if got, _, err := readAll(t, c, &s3.GetObjectInput{Bucket: aws.String("forms"), Key: aws.String("uploads/photo.jpg")}); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("the posted file: %v, %d bytes", err, len(got))
	}
	if !strings.Contains(resp.Header.Get("Location"), "/forms/uploads/photo.jpg") || resp.Header.Get("ETag") == "" {
		t.Errorf("answer headers: %v", resp.Header)
	}

	// What the policy does not allow stores nothing.
	with := func(edit func(map[string]string)) map[string]string {
		f := map[string]string{}
		for k, v := range post.Values {
			f[k] = v
		}
		edit(f)
		return f
	}
	resp, body = postForm(t, post.URL, with(func(f map[string]string) { f["key"] = "elsewhere/x" }), "x", []byte("x"))
	wantPost(t, "key outside the policy's prefix", resp, body, http.StatusForbidden, "AccessDenied")
	resp, body = postForm(t, post.URL, with(func(f map[string]string) { f["key"] = "uploads/extra"; f["x-amz-meta-sneaky"] = "1" }), "x", []byte("x"))
	wantPost(t, "a field the policy does not name", resp, body, http.StatusForbidden, "AccessDenied")
	resp, body = postForm(t, post.URL, with(func(f map[string]string) { f["key"] = "uploads/huge" }), "x", make([]byte, 301<<10))
	wantPost(t, "a file over the size range", resp, body, http.StatusBadRequest, "EntityTooLarge")
	resp, body = postForm(t, post.URL, with(func(f map[string]string) { f["key"] = "uploads/empty" }), "x", nil)
	wantPost(t, "a file under the size range", resp, body, http.StatusBadRequest, "EntityTooSmall")
	resp, body = postForm(t, post.URL, with(func(f map[string]string) {
		raw, _ := base64.StdEncoding.DecodeString(f["policy"])
		f["policy"] = base64.StdEncoding.EncodeToString(bytes.Replace(raw, []byte("uploads/"), []byte(""), 1))
		f["key"] = "anywhere"
	}), "x", []byte("x"))
	wantPost(t, "a changed policy", resp, body, http.StatusForbidden, "SignatureDoesNotMatch")
	resp, body = postForm(t, post.URL, with(func(f map[string]string) { delete(f, "policy"); f["key"] = "uploads/nopolicy" }), "x", []byte("x"))
	wantPost(t, "a signature without its policy", resp, body, http.StatusBadRequest, "InvalidArgument")
	for _, k := range []string{"elsewhere/x", "uploads/extra", "uploads/huge", "uploads/empty", "anywhere", "uploads/nopolicy"} {
		if exists(k) {
			t.Errorf("a refused post stored %s", k)
		}
	}

	// minio-go's post policy: content type, metadata, SSE-S3, 201 with a PostResponse.
	u, _ := url.Parse(srv.S3URL)
	mc, err := minio.New(u.Host, &minio.Options{Creds: miniocreds.NewStaticV4(tn.Access, tn.Secret, ""), Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	pp := minio.NewPostPolicy()
	pp.SetBucket("forms")
	pp.SetKey("minio.txt")
	pp.SetExpires(time.Now().Add(time.Minute))
	pp.SetContentType("text/plain")
	pp.SetUserMetadata("origin", "form")
	pp.SetSuccessStatusAction("201")
	pp.SetEncryption(encrypt.NewSSE())
	mu, formData, err := mc.PresignedPostPolicy(ctx, pp)
	if err != nil {
		t.Fatal(err)
	}
	resp, body = postForm(t, mu.String(), formData, "minio.txt", []byte("POSTED-SSE-MARKER"))
	var pr struct {
		XMLName     xml.Name `xml:"PostResponse"`
		Bucket, Key string
	}
	if resp.StatusCode != http.StatusCreated || xml.Unmarshal([]byte(body), &pr) != nil || pr.Key != "minio.txt" || pr.Bucket != "forms" {
		t.Fatalf("minio-go post: %d %s", resp.StatusCode, body)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("forms"), Key: aws.String("minio.txt")})
	if err != nil || aws.ToString(head.ContentType) != "text/plain" || head.Metadata["origin"] != "form" || head.ServerSideEncryption != "AES256" {
		t.Errorf("the minio-go posted object: %v %+v", err, head)
	}
	if atRest(t, srv, []byte("POSTED-SSE-MARKER")) {
		t.Error("a posted SSE-S3 object is on disk in plain text")
	}

	// A redirect after success names the object.
	post2, _ := ps.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("forms"), Key: aws.String("r.txt")}, func(o *s3.PresignPostOptions) {
		o.Conditions = []any{map[string]string{"success_action_redirect": "https://app.example/done"}}
	})
	f := post2.Values
	f["success_action_redirect"] = "https://app.example/done"
	resp, _ = postForm(t, post2.URL, f, "r.txt", []byte("r"))
	if loc, _ := url.Parse(resp.Header.Get("Location")); resp.StatusCode != http.StatusSeeOther || loc == nil || loc.Host != "app.example" || loc.Query().Get("key") != "r.txt" {
		t.Errorf("redirect: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}

	// Another project signs a policy for this bucket: refused.
	other := srv.NewTenant(t, "beta", "")
	op, _ := s3.NewPresignClient(s3Client(srv, other)).PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("forms"), Key: aws.String("intruder")})
	resp, body = postForm(t, op.URL, op.Values, "i", []byte("i"))
	wantPost(t, "another project's policy", resp, body, http.StatusForbidden, "AccessDenied")
	// So is an anonymous form, until a bucket policy lets everyone upload.
	resp, body = postForm(t, srv.S3URL+"/forms", map[string]string{"key": "anon"}, "a", []byte("a"))
	wantPost(t, "anonymous post", resp, body, http.StatusForbidden, "AccessDenied")
	for _, k := range []string{"intruder", "anon"} {
		if exists(k) {
			t.Errorf("a refused post stored %s", k)
		}
	}
	_, err = c.PutBucketPolicy(ctx, &s3.PutBucketPolicyInput{Bucket: aws.String("forms"), Policy: aws.String(
		`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:PutObject","Resource":"arn:aws:s3:::forms/drop/*"}]}`)})
	wantCode(t, "bucket policy", err, "")
	resp, body = postForm(t, srv.S3URL+"/forms", map[string]string{"key": "drop/anon"}, "a", []byte("a"))
	wantPost(t, "anonymous post the bucket policy allows", resp, body, http.StatusNoContent, "")

	// Expired policies and bodies that are no form.
	old, _ := ps.PresignPostObject(ctx, &s3.PutObjectInput{Bucket: aws.String("forms"), Key: aws.String("late")}, func(o *s3.PresignPostOptions) { o.Expires = time.Second })
	time.Sleep(1100 * time.Millisecond)
	resp, body = postForm(t, old.URL, old.Values, "l", []byte("l"))
	wantPost(t, "expired policy", resp, body, http.StatusForbidden, "AccessDenied")
	r, _ := http.Post(srv.S3URL+"/forms", "text/plain", strings.NewReader("key=x"))
	if r.StatusCode != http.StatusPreconditionFailed {
		t.Errorf("a POST that is no form = %d", r.StatusCode)
	}
	r.Body.Close()
}
