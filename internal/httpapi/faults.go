package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
)

// Faults and microversions as Nova spells them and Cinder repeats: an
// error body {"<fault>": {"code": N, "message": "..."}} and a minor version
// negotiated with the OpenStack-API-Version header.

// faultNames are the wrapper keys of Nova's and Cinder's error bodies.
var faultNames = map[int]string{
	http.StatusBadRequest: "badRequest", http.StatusUnauthorized: "unauthorized", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "itemNotFound", http.StatusConflict: "conflictingRequest", http.StatusRequestEntityTooLarge: "overLimit",
	http.StatusNotAcceptable: "notAcceptable", http.StatusMethodNotAllowed: "badMethod", http.StatusUnsupportedMediaType: "badMediaType",
	http.StatusTooManyRequests: "overLimit", http.StatusNotImplemented: "notImplemented", http.StatusServiceUnavailable: "serviceUnavailable",
}

// FaultWriter writes errors as faults; Fallback is the key of a status
// with no name of its own ("computeFault", "cinderFault"), Service the
// name in log lines.
type FaultWriter struct {
	Service, Fallback string
	Log               *slog.Logger
}

// Write classifies err and writes its fault.
func (f FaultWriter) Write(w http.ResponseWriter, r *http.Request, err error) {
	p := Classify(err)
	msg := p.Message
	switch {
	case p.Denied != "":
		msg = "Policy doesn't allow " + p.Denied + " to be performed."
	case msg != "":
	case p.Status == http.StatusNotFound:
		msg = "The resource could not be found."
	case p.Status == http.StatusConflict:
		msg = "There was a conflict when trying to complete your request."
	default:
		f.Log.Error(f.Service+": internal error", "request_id", RequestID(r.Context()), "err", err)
		msg = "Unexpected API Error. Request id: " + RequestID(r.Context())
	}
	if p.Status == http.StatusServiceUnavailable {
		f.Log.Error(f.Service+": store unavailable", "request_id", RequestID(r.Context()), "err", err)
	}
	name, ok := faultNames[p.Status]
	if !ok {
		name = f.Fallback
	}
	WriteJSON(w, p.Status, map[string]any{name: map[string]any{"code": p.Status, "message": msg}})
}

// Microversions is the range of an API's microversions <Major>.<minor>.
type Microversions struct {
	Service  string // as in the header: "compute", "volume"
	Legacy   string // an older header also read and written ("X-OpenStack-Nova-API-Version"), or ""
	Major    int
	Min, Max int // minors
}

// String is a version as the APIs write it, e.g. "2.96".
func (m Microversions) String(minor int) string {
	return strconv.Itoa(m.Major) + "." + strconv.Itoa(minor)
}

// Negotiate reads the version a request asks for: Min without one, Max
// for "latest", else 406 for one out of the range.
func (m Microversions) Negotiate(r *http.Request) (int, error) {
	v := ""
	if h := r.Header.Get("OpenStack-API-Version"); h != "" {
		svc, ver, _ := strings.Cut(strings.TrimSpace(h), " ")
		if strings.EqualFold(svc, m.Service) {
			v = strings.TrimSpace(ver)
		}
	}
	if v == "" && m.Legacy != "" {
		v = r.Header.Get(m.Legacy)
	}
	switch strings.ToLower(v) {
	case "":
		return m.Min, nil
	case "latest":
		return m.Max, nil
	}
	major, minor, ok := strings.Cut(v, ".")
	n, err := strconv.Atoi(minor)
	if !ok || major != strconv.Itoa(m.Major) || err != nil || n < m.Min || n > m.Max {
		return 0, Errorf(http.StatusNotAcceptable, "Version %s is not supported by the API. Minimum is %s and maximum is %s.", v, m.String(m.Min), m.String(m.Max))
	}
	return n, nil
}

type minorKey struct{}

// Handler negotiates the version of each request, answers it in the
// headers and hands it to h (which reads it with Minor); a version out of
// range is a fault written by fail.
func (m Microversions) Handler(fail func(http.ResponseWriter, *http.Request, error), h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		minor, err := m.Negotiate(r)
		if err != nil {
			fail(w, r, err)
			return
		}
		w.Header().Set("OpenStack-API-Version", m.Service+" "+m.String(minor))
		vary := "OpenStack-API-Version"
		if m.Legacy != "" {
			w.Header().Set(m.Legacy, m.String(minor))
			vary += ", " + m.Legacy
		}
		w.Header().Set("Vary", vary)
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), minorKey{}, minor)))
	})
}

// Minor is the minor version Handler negotiated for r.
func Minor(r *http.Request) int {
	m, _ := r.Context().Value(minorKey{}).(int)
	return m
}
