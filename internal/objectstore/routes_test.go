package objectstore

import (
	"net/http"
	"net/url"
	"reflect"
	"testing"
)

// FuzzRoute: whatever the method, path, query and headers, a request
// reaches an implemented operation only when it names exactly that
// operation's method, subresource and copy source; anything else gets a
// handler that answers an error and touches no server state.
func FuzzRoute(f *testing.F) {
	f.Add("PUT", "/b/k", "retention", "X-Amz-Copy-Source", "b/x")
	f.Add("DELETE", "/b", "lifecycle", "", "")
	f.Add("PUT", "/b", "lifecycle&policy", "", "")
	f.Add("GET", "/b/k", "partNumber=1", "", "")
	f.Add("PUT", "/b/k", "", "X-Amz-Server-Side-Encryption", "AES256")
	f.Add("POST", "/b", "", "", "")
	f.Fuzz(func(t *testing.T, method, path, rawQuery, header, value string) {
		u, err := url.Parse("http://s3.test" + "/" + path)
		if err != nil {
			return
		}
		u.RawQuery = rawQuery
		r := &http.Request{Method: method, URL: u, Header: http.Header{}}
		if header != "" && value != "" {
			r.Header.Set(header, value)
		}
		req := &request{r: r, q: u.Query()}
		req.bucket, req.key = (&Server{}).splitPath(r)
		op, h := route(req)
		for k, e := range routes {
			if e.op != op || reflect.ValueOf(e.h).Pointer() != reflect.ValueOf(h).Pointer() {
				continue
			}
			var subs []string
			for name := range req.q {
				if subresources[name] {
					subs = append(subs, name)
				}
			}
			lvl := objectLevel
			switch {
			case req.bucket == "":
				lvl = serviceLevel
			case req.key == "":
				lvl = bucketLevel
			}
			named := (len(subs) == 0 && k.sub == "") || (len(subs) == 1 && subs[0] == k.sub)
			if k.method != method || k.level != lvl || !named || k.copy != (r.Header.Get("X-Amz-Copy-Source") != "") {
				t.Fatalf("%s %s?%s (%s: %s) reached %s (%+v)", method, path, rawQuery, header, value, op, k)
			}
			return
		}
		if h == nil {
			if op != "Preflight" || method != http.MethodOptions {
				t.Fatalf("%s %s?%s: no handler for %s", method, path, rawQuery, op)
			}
			return
		}
		// Not an implemented operation: the handler must fail without a server.
		if err := h(nil, req); err == nil {
			t.Fatalf("%s %s?%s answered %s without an error", method, path, rawQuery, op)
		}
	})
}
