package objectstore

import (
	"context"
	"encoding/xml"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func fuzzServer() *Server {
	return &Server{log: slog.New(slog.NewTextHandler(io.Discard, nil)), creds: func(_ context.Context, access string) (*Credential, error) {
		if access != "AKID" {
			return nil, errors.New("unknown")
		}
		return &Credential{Secret: "secret", Owner: Owner{ProjectID: "p"}}, nil
	}}
}

func FuzzAuthorizationHeader(f *testing.F) {
	now := time.Now().UTC().Format(amzDateFormat)
	f.Add("AWS4-HMAC-SHA256 Credential=AKID/"+now[:8]+"/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc", now, "/b/k", "x=1")
	f.Add("AWS4-HMAC-SHA256 Credential=,,,", now, "/", "")
	f.Add("AWS4-HMAC-SHA256 ", "", "//", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID/2/3/4/aws4_request")
	s := fuzzServer()
	f.Fuzz(func(t *testing.T, authz, date, path, query string) {
		r, err := http.NewRequest("GET", "http://localhost/", nil)
		if err != nil {
			return
		}
		r.URL.Path, r.URL.RawQuery = path, query
		r.Header.Set("Authorization", authz)
		r.Header.Set("X-Amz-Date", date)
		sig, err := s.authenticate(r)
		if err == nil && sig.owner != nil {
			// Only the right signature verifies; random input cannot carry it.
			t.Fatalf("forged request authenticated: %q %q", authz, query)
		}
	})
}

func FuzzChunkedReader(f *testing.F) {
	f.Add("5\r\nhello\r\n0\r\n\r\n", false)
	f.Add("3;chunk-signature=00\r\nabc\r\n0;chunk-signature=00\r\n\r\n", true)
	f.Add("0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n", false)
	f.Add("ffffffffffffffff\r\n", false)
	f.Fuzz(func(t *testing.T, body string, signedStream bool) {
		sig := &signed{payload: streamingUnsignT}
		if signedStream {
			sig = &signed{payload: streamingSigned, key: []byte("k"), scope: "s", date: "d", seedSign: "seed"}
		}
		cr := newChunkedReader(strings.NewReader(body), sig)
		n, err := io.Copy(io.Discard, io.LimitReader(cr, 1<<20))
		if n > int64(len(body)) {
			t.Fatalf("decoded %d bytes from a %d byte body", n, len(body))
		}
		if signedStream && err == nil && n > 0 {
			t.Fatalf("signed chunks with made-up signatures were accepted: %q", body)
		}
	})
}

func FuzzRequestXML(f *testing.F) {
	f.Add(`<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>`)
	f.Add(`<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"x"</ETag></Part></CompleteMultipartUpload>`)
	f.Add(`<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>`)
	f.Add(`<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule></CORSConfiguration>`)
	f.Add(`{"Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}]}`)
	f.Add(`{"Statement":[{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":"arn:aws:s3:::b/*","Condition":{"NotIpAddressIfExists":{"aws:SourceIp":["10.0.0.0/8"]},"Null":{"s3:prefix":"true"}}}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var d deleteRequest
		xml.Unmarshal([]byte(body), &d)
		var c completeRequest
		xml.Unmarshal([]byte(body), &c)
		var tg tagging
		if xml.Unmarshal([]byte(body), &tg) == nil {
			encodeTags(tg.TagSet, maxBucketTags)
		}
		var cors corsConfig
		xml.Unmarshal([]byte(body), &cors)
		if doc, err := parsePolicy(body, "b"); err == nil {
			for _, st := range doc.Statement {
				if st.Effect != "Allow" && st.Effect != "Deny" {
					t.Fatalf("policy with effect %q accepted", st.Effect)
				}
			}
			policyDecision(body, nil, "s3:GetObject", "arn:aws:s3:::b/k", func() requestContext { return requestContext{"aws:sourceip": "127.0.0.1"} })
		}
	})
}
