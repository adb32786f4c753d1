package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// TestQMPSkipsOtherAnswers: an answer meant for an earlier client (QEMU
// answers a command even after its client hung up) or an event reaches
// the next client first; only the answer carrying the command's id counts.
func TestQMPSkipsOtherAnswers(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "qmp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP": {"version": {}, "capabilities": []}}`)
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadBytes('\n')
			if err != nil {
				return
			}
			var req struct {
				Execute string
				ID      string
			}
			json.Unmarshal(line, &req)
			fmt.Fprintln(c, `{"id": "sov-old-7", "error": {"class": "GenericError", "desc": "Invalid password, cannot unlock any keyslot"}}`)
			fmt.Fprintln(c, `{"event": "DEVICE_DELETED", "data": {}}`)
			fmt.Fprintf(c, `{"id": %q, "return": {"cmd": %q}}`+"\n", req.ID, req.Execute)
		}
	}()
	q, err := dialQMP(sock, 5*time.Second)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer q.close()
	for _, cmd := range []string{"query-status", "query-block"} {
		out, err := q.execute(cmd, nil)
		if err != nil {
			t.Fatalf("%s: %v", cmd, err)
		}
		var got struct{ Cmd string }
		json.Unmarshal(out, &got)
		if got.Cmd != cmd {
			t.Errorf("%s got the answer to %q", cmd, got.Cmd)
		}
	}
}
