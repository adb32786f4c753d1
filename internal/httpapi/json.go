package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// BadRequestError says why a request body could not be decoded; Status is 400,
// or 413 for a body over [MaxBodyBytes].
type BadRequestError struct {
	Status  int
	Message string
}

func (e *BadRequestError) Error() string { return e.Message }

// DecodeJSON reads the request body, at most MaxBodyBytes, into v. It fails
// with a *BadRequestError naming the field for malformed JSON and wrong types.
func DecodeJSON(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &maxErr):
			return &BadRequestError{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request body is larger than %d bytes.", MaxBodyBytes)}
		case errors.As(err, &typeErr):
			field := typeErr.Field
			if field == "" {
				field = "body"
			}
			return &BadRequestError{Status: http.StatusBadRequest, Message: fmt.Sprintf("Invalid input for field '%s': expected %s, got %s.", field, typeErr.Type.String(), typeErr.Value)}
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return &BadRequestError{Status: http.StatusBadRequest, Message: "Malformed JSON in request body: " + err.Error()}
		case errors.Is(err, io.EOF):
			return &BadRequestError{Status: http.StatusBadRequest, Message: "The request body is empty; a JSON object is required."}
		default:
			return &BadRequestError{Status: http.StatusBadRequest, Message: "Invalid request body: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
	}
	if dec.More() {
		return &BadRequestError{Status: http.StatusBadRequest, Message: "Malformed JSON in request body: trailing data after the object."}
	}
	return nil
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
