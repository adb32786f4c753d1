package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sovcloud/sov/internal/server"
	"github.com/sovcloud/sov/internal/servertest"
)

// closedWithin reports whether the server closes c (EOF or reset) before
// wait passes, reading and discarding whatever it sends.
func closedWithin(c net.Conn, wait time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(wait))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func dial(t *testing.T, rawURL string) net.Conn {
	t.Helper()
	u, _ := url.Parse(rawURL)
	c, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestConnectionTimeouts: idle and stalled connections are closed after
// their timeout, a slow transfer that keeps moving is not, and one client
// holds at most the configured number of connections.
func TestConnectionTimeouts(t *testing.T) {
	srv := servertest.Start(t, func(cfg *server.Config) {
		cfg.IdleTimeout, cfg.InactivityTimeout, cfg.MaxConnsPerClient = 500*time.Millisecond, 500*time.Millisecond, 8
	})
	host := strings.TrimPrefix(srv.URL, "http://")

	// Idle after one request: closed.
	c := dial(t, srv.URL)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz = %v, %v", resp, err)
	}
	if !closedWithin(c, 5*time.Second) {
		t.Error("an idle kept-alive connection stays open")
	}

	// A body that stalls: closed.
	c = dial(t, srv.URL)
	fmt.Fprintf(c, "POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"auth\":", host)
	if !closedWithin(c, 5*time.Second) {
		t.Error("a connection whose body stalls stays open")
	}

	// A body that trickles but keeps moving, for longer than the timeout: served.
	body := fmt.Sprintf(`{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "domain": {"id": "default"}, "password": %q}}}}}`, servertest.AdminPassword)
	c = dial(t, srv.URL)
	fmt.Fprintf(c, "POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", host, len(body))
	for i := 0; i < len(body); i += 10 {
		c.Write([]byte(body[i:min(i+10, len(body))]))
		time.Sleep(100 * time.Millisecond)
	}
	resp, err = http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Errorf("slow token request = %v, %v", resp, err)
	}

	// A reader that stops reading a large response: closed.
	token := srv.Admin(t).Token()
	imageURL := srv.URL + "/image/v2/images"
	req, _ := http.NewRequest("POST", imageURL, strings.NewReader(`{"name": "big", "disk_format": "raw", "container_format": "bare"}`))
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/json")
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != http.StatusCreated {
		t.Fatalf("create image: %v %v", r, err)
	}
	var img struct{ ID string }
	json.Unmarshal([]byte(readAll(r)), &img)
	id := img.ID
	req, _ = http.NewRequest("PUT", imageURL+"/"+id+"/file", bytes.NewReader(make([]byte, 64<<20)))
	req.Header.Set("X-Auth-Token", token)
	req.Header.Set("Content-Type", "application/octet-stream")
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusNoContent {
		t.Fatalf("upload: %v %v", r, err)
	}
	c = dial(t, srv.URL)
	c.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(c, "GET /image/v2/images/%s/file HTTP/1.1\r\nHost: %s\r\nX-Auth-Token: %s\r\n\r\n", id, host, token)
	// The data queued in the kernel for the closed socket is still on its
	// way, so the client cannot see the close: ask the kernel (ss) whether
	// the server's end is still established.
	time.Sleep(3 * time.Second)
	serverPort := strings.Split(host, ":")[1]
	clientPort := strings.Split(c.LocalAddr().String(), ":")[1]
	out, err := exec.Command("ss", "-Htn", "state", "established", "( sport = :"+serverPort+" and dport = :"+clientPort+" )").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v: %s", err, out)
	}
	if strings.TrimSpace(string(out)) != "" {
		t.Errorf("the server keeps a stalled download's connection open:\n%s", out)
	}

	// At most 8 connections of one client: the ninth is closed at once
	// (the test's HTTP client may hold some of the eight).
	var conns []net.Conn
	for len(conns) < 9 {
		c := dial(t, srv.URL)
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			break
		}
		conns = append(conns, c)
	}
	if len(conns) == 0 || len(conns) > 8 {
		t.Errorf("one client holds %d connections, want 1 to 8", len(conns))
	}
	conns[0].Close()
	time.Sleep(100 * time.Millisecond)
	c = dial(t, srv.URL)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host)
	if resp, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || resp.StatusCode != 200 {
		t.Errorf("after closing one, a new connection = %v, %v", resp, err)
	}
}

func readAll(r *http.Response) string {
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return string(b)
}
