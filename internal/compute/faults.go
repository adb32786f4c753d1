package compute

import (
	"errors"
	"fmt"

	"github.com/sovcloud/sov/internal/diskimage"
)

// fault is an error whose message is meant for the server's owner; its
// cause, with host paths and engine output, is for the log only.
type fault struct {
	msg   string
	cause error
}

func (f *fault) Error() string { return f.msg + ": " + f.cause.Error() }
func (f *fault) Unwrap() error { return f.cause }

func faultf(cause error, format string, a ...any) error {
	return &fault{msg: fmt.Sprintf(format, a...), cause: cause}
}

// faultMessage is what a server's fault says: the message of an error
// meant for users (a refused image, an API error of another service, a
// fault), otherwise a generic one. Host paths never reach it.
func faultMessage(err error) string {
	var f *fault
	var api interface{ HTTPStatus() int }
	var refused *diskimage.Error
	switch {
	case errors.As(err, &f):
		return f.msg
	case errors.As(err, &refused):
		return "The image was refused: " + refused.Reason
	case errors.As(err, &api):
		return err.Error()
	}
	return "The server could not be built or started on this host; the cloud's operators find the cause in sov's log."
}
