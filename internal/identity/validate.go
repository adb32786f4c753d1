package identity

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/sovcloud/sov/internal/store"
)

// validName checks a required resource name.
func validName(name *string) error {
	if name == nil {
		return badRequest("Invalid input for field 'name': 'name' is a required property.")
	}
	n := strings.TrimSpace(*name)
	if n == "" || utf8.RuneCountInString(*name) > 255 {
		return badRequest("Invalid input for field 'name': must be a non-empty string of at most 255 characters.")
	}
	return nil
}

// duplicate turns a uniqueness conflict into Keystone's 409 message.
func duplicate(err error, kind, name string) error {
	if errors.Is(err, store.ErrConflict) {
		return conflict("Conflict occurred attempting to store %s - Duplicate entry found with name %s.", kind, name)
	}
	return err
}
