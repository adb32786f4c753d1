package qemu

import (
	"bufio"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"syscall"
	"time"
)

// qmp is a minimal QEMU Machine Protocol client: one command at a time
// over the VM's QMP unix socket; events are skipped.
//
// Each command carries an id and only the answer with that id counts:
// a command whose client gave up on it (a slow LUKS unlock, say) is
// still answered when QEMU finishes it, and that answer may reach the
// next client of the socket.
type qmp struct {
	conn    net.Conn
	r       *bufio.Reader
	timeout time.Duration // how long one command may take
	prefix  string        // this connection's command ids: prefix + seq
	seq     int
}

// dialQMP connects to a QMP socket; each command then has timeout to
// answer.
func dialQMP(path string, timeout time.Duration) (*qmp, error) {
	conn, err := net.DialTimeout("unix", path, timeout)
	if err != nil {
		return nil, err
	}
	conn.SetDeadline(time.Now().Add(timeout))
	q := &qmp{conn: conn, r: bufio.NewReader(conn), timeout: timeout, prefix: "sov-" + rand.Text()[:8] + "-"}
	if _, err := q.r.ReadBytes('\n'); err != nil { // the greeting
		conn.Close()
		return nil, err
	}
	if _, err := q.execute("qmp_capabilities", nil); err != nil {
		conn.Close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) close() { q.conn.Close() }

// sendFD hands QEMU a file descriptor under a name (getfd), for commands
// that name it.
func (q *qmp) sendFD(name string, fd int) error {
	_, err := q.send("getfd", map[string]any{"fdname": name}, fd)
	return err
}

// execute runs a QMP command and returns its "return" value.
func (q *qmp) execute(cmd string, args any) (json.RawMessage, error) {
	return q.send(cmd, args, -1)
}

// send runs a command, passing the descriptor fd alongside it unless it
// is -1, and returns its "return" value.
func (q *qmp) send(cmd string, args any, fd int) (json.RawMessage, error) {
	q.seq++
	id := q.prefix + strconv.Itoa(q.seq)
	req := map[string]any{"execute": cmd, "id": id}
	if args != nil {
		req["arguments"] = args
	}
	b, _ := json.Marshal(req)
	b = append(b, '\n')
	q.conn.SetDeadline(time.Now().Add(q.timeout))
	if fd < 0 {
		if _, err := q.conn.Write(b); err != nil {
			return nil, err
		}
		return q.result(cmd, id)
	}
	uc, ok := q.conn.(*net.UnixConn)
	if !ok {
		return nil, fmt.Errorf("qmp: not a unix socket")
	}
	if _, _, err := uc.WriteMsgUnix(b, syscall.UnixRights(fd), nil); err != nil {
		return nil, err
	}
	return q.result(cmd, id)
}

// result reads the answer to the command sent last, with id, skipping
// events and other commands' answers.
func (q *qmp) result(cmd, id string) (json.RawMessage, error) {
	for {
		line, err := q.r.ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		var resp struct {
			Return json.RawMessage `json:"return"`
			Error  *struct {
				Class, Desc string
			} `json:"error"`
			Event string `json:"event"`
			ID    string `json:"id"`
		}
		if err := json.Unmarshal(line, &resp); err != nil {
			return nil, fmt.Errorf("qmp: %w", err)
		}
		switch {
		case resp.Event != "" || resp.ID != id:
			continue
		case resp.Error != nil:
			return nil, fmt.Errorf("qmp %s: %s: %s", cmd, resp.Error.Class, resp.Error.Desc)
		}
		return resp.Return, nil
	}
}
