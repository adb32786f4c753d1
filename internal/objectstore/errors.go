package objectstore

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"

	"github.com/sovcloud/sov/internal/store"
)

// Error is an S3 error: a code from S3's error table and a message.
type Error struct {
	Code    string
	Status  int
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func s3err(status int, code, format string, a ...any) *Error {
	return &Error{Code: code, Status: status, Message: fmt.Sprintf(format, a...)}
}

// The S3 errors sov returns.
var (
	errAccessDenied        = s3err(http.StatusForbidden, "AccessDenied", "Access Denied")
	errInvalidAccessKeyID  = s3err(http.StatusForbidden, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
	errSignatureMismatch   = s3err(http.StatusForbidden, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
	errNoSuchBucket        = s3err(http.StatusNotFound, "NoSuchBucket", "The specified bucket does not exist")
	errNoSuchKey           = s3err(http.StatusNotFound, "NoSuchKey", "The specified key does not exist.")
	errNoSuchUpload        = s3err(http.StatusNotFound, "NoSuchUpload", "The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
	errNoSuchVersion       = s3err(http.StatusNotFound, "NoSuchVersion", "The specified version does not exist.")
	errBucketNotEmpty      = s3err(http.StatusConflict, "BucketNotEmpty", "The bucket you tried to delete is not empty")
	errBucketAlreadyOwned  = s3err(http.StatusConflict, "BucketAlreadyOwnedByYou", "Your previous request to create the named bucket succeeded and you already own it.")
	errBucketExists        = s3err(http.StatusConflict, "BucketAlreadyExists", "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.")
	errInvalidBucketName   = s3err(http.StatusBadRequest, "InvalidBucketName", "The specified bucket is not valid.")
	errMalformedXML        = s3err(http.StatusBadRequest, "MalformedXML", "The XML you provided was not well-formed or did not validate against our published schema.")
	errBadDigest           = s3err(http.StatusBadRequest, "BadDigest", "The Content-MD5 or checksum you specified did not match what we received.")
	errInvalidDigest       = s3err(http.StatusBadRequest, "InvalidDigest", "The Content-MD5 or checksum you specified is not valid.")
	errSHA256Mismatch      = s3err(http.StatusBadRequest, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	errIncompleteBody      = s3err(http.StatusBadRequest, "IncompleteBody", "You did not provide the number of bytes specified by the Content-Length HTTP header.")
	errMissingLength       = s3err(http.StatusLengthRequired, "MissingContentLength", "You must provide the Content-Length HTTP header.")
	errEntityTooLarge      = s3err(http.StatusBadRequest, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
	errEntityTooSmall      = s3err(http.StatusBadRequest, "EntityTooSmall", "Your proposed upload is smaller than the minimum allowed object size.")
	errInvalidRange        = s3err(http.StatusRequestedRangeNotSatisfiable, "InvalidRange", "The requested range is not satisfiable")
	errPreconditionFailed  = s3err(http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
	errInvalidPart         = s3err(http.StatusBadRequest, "InvalidPart", "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.")
	errInvalidPartOrder    = s3err(http.StatusBadRequest, "InvalidPartOrder", "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
	errMethodNotAllowed    = s3err(http.StatusMethodNotAllowed, "MethodNotAllowed", "The specified method is not allowed against this resource.")
	errQuotaExceeded       = s3err(http.StatusForbidden, "QuotaExceeded", "The project's storage quota would be exceeded.")
	errRequestTimeSkewed   = s3err(http.StatusForbidden, "RequestTimeTooSkewed", "The difference between the request time and the server's time is too large.")
	errExpiredToken        = s3err(http.StatusForbidden, "AccessDenied", "Request has expired")
	errNoSuchTagSet        = s3err(http.StatusNotFound, "NoSuchTagSet", "The TagSet does not exist")
	errNoSuchCORS          = s3err(http.StatusNotFound, "NoSuchCORSConfiguration", "The CORS configuration does not exist")
	errNoSuchPolicy        = s3err(http.StatusNotFound, "NoSuchBucketPolicy", "The bucket policy does not exist")
	errMalformedPolicy     = s3err(http.StatusBadRequest, "MalformedPolicy", "Policies must be valid JSON and the first byte must be '{'")
	errInvalidArgument     = s3err(http.StatusBadRequest, "InvalidArgument", "Invalid Argument")
	errMetadataTooLarge    = s3err(http.StatusBadRequest, "MetadataTooLarge", "Your metadata headers exceed the maximum allowed metadata size.")
	errAuthHeaderMalformed = s3err(http.StatusBadRequest, "AuthorizationHeaderMalformed", "The authorization header is malformed.")
	errInvalidRequest      = s3err(http.StatusBadRequest, "InvalidRequest", "Invalid Request")
)

var errServiceUnavailable = s3err(http.StatusServiceUnavailable, "ServiceUnavailable", "The service cannot reach its store; please reduce your request rate or try again later.")

// credentialError is the answer to a failed access key lookup: unknown
// key, or a store that cannot be reached (not "unknown": that would send
// the user to check keys that are fine).
func credentialError(err error) error {
	if store.Unavailable(err) {
		return errServiceUnavailable
	}
	return errInvalidAccessKeyID
}

func invalidArgument(format string, a ...any) *Error {
	return s3err(http.StatusBadRequest, "InvalidArgument", format, a...)
}

type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string
	Message   string
	Resource  string `xml:",omitempty"`
	RequestID string `xml:"RequestId"`
}

// writeError is the one place that turns an error into S3's XML error body.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, reqID string, err error) {
	var e *Error
	if !errors.As(err, &e) && store.Unavailable(err) {
		s.log.Error("s3: store unavailable", "request_id", reqID, "err", err)
		e = errServiceUnavailable
	} else if e == nil {
		s.log.Error("s3 internal error", "request_id", reqID, "err", err)
		e = s3err(http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(e.Status)
	if r.Method == http.MethodHead {
		return
	}
	w.Write([]byte(xml.Header))
	xml.NewEncoder(w).Encode(errorBody{Code: e.Code, Message: e.Message, Resource: r.URL.Path, RequestID: reqID})
}

// asS3 reports whether err is (or wraps) an S3 error, and sets *e to it.
func asS3(err error, e **Error) bool { return errors.As(err, e) }
