package httpapi

import (
	"io"
	"net/http"
	"sync/atomic"
	"time"
)

// Progress closes the connection of a request whose body or response
// stalls: no byte read (or written) for inactivity. A transfer that keeps
// moving is never cut, however large, and a handler that works a long
// time before it answers (a multipart completion, say) is not either.
// Together with the server's ReadHeaderTimeout and IdleTimeout this leaves
// no connection open forever.
func Progress(h http.Handler, inactivity time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		// Deadlines outlive a request on its connection: start clean, and
		// leave time for the server's last flush.
		rc.SetWriteDeadline(time.Time{})
		defer func() { rc.SetWriteDeadline(time.Now().Add(inactivity)) }()
		if r.Body != nil && r.Body != http.NoBody {
			rc.SetReadDeadline(time.Now().Add(inactivity))
			r.Body = &progressBody{ReadCloser: r.Body, rc: rc, d: inactivity}
		}
		h.ServeHTTP(&progressWriter{ResponseWriter: w, rc: rc, d: inactivity}, r)
	})
}

// extender moves a deadline forward, at most every quarter of d.
type extender struct {
	last atomic.Int64 // unix nanoseconds of the last extension
}

func (e *extender) due(d time.Duration) (time.Time, bool) {
	now := time.Now()
	if now.UnixNano()-e.last.Load() < int64(d/4) {
		return now, false
	}
	e.last.Store(now.UnixNano())
	return now.Add(d), true
}

type progressBody struct {
	io.ReadCloser
	rc  *http.ResponseController
	d   time.Duration
	ext extender
}

func (b *progressBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err == io.EOF:
		// The body is done: the server's own read of the connection (to
		// notice a client going away) must not time out. (After a stall the
		// deadline stays, so the server's drain of the body fails too and
		// the connection is closed.)
		b.rc.SetReadDeadline(time.Time{})
	case n > 0:
		if t, ok := b.ext.due(b.d); ok {
			b.rc.SetReadDeadline(t)
		}
	}
	return n, err
}

type progressWriter struct {
	http.ResponseWriter
	rc  *http.ResponseController
	d   time.Duration
	ext extender
}

func (w *progressWriter) extend() {
	if t, ok := w.ext.due(w.d); ok {
		w.rc.SetWriteDeadline(t)
	}
}

func (w *progressWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *progressWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *progressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
