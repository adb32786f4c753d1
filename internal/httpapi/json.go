package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// DecodeJSON reads the request body, at most MaxBodyBytes, into v. It fails
// with an *Error (400, or 413 for a body over [MaxBodyBytes]) naming the field for malformed JSON and wrong types.
func DecodeJSON(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, MaxBodyBytes)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		var maxErr *http.MaxBytesError
		var typeErr *json.UnmarshalTypeError
		var syntaxErr *json.SyntaxError
		switch {
		case errors.As(err, &maxErr):
			return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("Request body is larger than %d bytes.", MaxBodyBytes)}
		case errors.As(err, &typeErr):
			field := typeErr.Field
			if field == "" {
				field = "body"
			}
			return &Error{Status: http.StatusBadRequest, Message: fmt.Sprintf("Invalid input for field '%s': expected %s, got %s.", field, typeErr.Type.String(), typeErr.Value)}
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return &Error{Status: http.StatusBadRequest, Message: "Malformed JSON in request body: " + err.Error()}
		case errors.Is(err, io.EOF):
			return &Error{Status: http.StatusBadRequest, Message: "The request body is empty; a JSON object is required."}
		default:
			return &Error{Status: http.StatusBadRequest, Message: "Invalid request body: " + strings.TrimPrefix(err.Error(), "json: ")}
		}
	}
	if dec.More() {
		return &Error{Status: http.StatusBadRequest, Message: "Malformed JSON in request body: trailing data after the object."}
	}
	return nil
}

// WriteJSON writes v as a JSON response with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
