package objectstore

import (
	"net/http"
	"strings"
)

// Routing by exact operation: every method + subresource (+ copy source)
// of a request names one operation of the table below, or none. A request
// that names none never reaches another operation: a subresource AWS
// defines but sov does not implement answers NotImplemented, anything else
// MethodNotAllowed; so does a header that asks for a feature sov lacks.

// level is what a request addresses: the service, a bucket or an object.
type level int

const (
	serviceLevel level = iota
	bucketLevel
	objectLevel
)

type routeKey struct {
	level  level
	method string
	sub    string // the subresource query parameter, "" for none
	copy   bool   // an x-amz-copy-source header is present
}

type routeEntry struct {
	op string
	h  handler
}

// routes is the one table of implemented operations.
var routes = map[routeKey]routeEntry{
	{serviceLevel, http.MethodGet, "", false}: {"ListBuckets", (*Server).listBuckets},

	{bucketLevel, http.MethodPut, "", false}:                     {"CreateBucket", (*Server).createBucket},
	{bucketLevel, http.MethodPut, "versioning", false}:           {"PutBucketVersioning", (*Server).putVersioning},
	{bucketLevel, http.MethodPut, "policy", false}:               {"PutBucketPolicy", (*Server).putPolicy},
	{bucketLevel, http.MethodPut, "cors", false}:                 {"PutBucketCors", (*Server).putCORS},
	{bucketLevel, http.MethodPut, "tagging", false}:              {"PutBucketTagging", (*Server).putBucketTagging},
	{bucketLevel, http.MethodPut, "acl", false}:                  {"PutBucketAcl", (*Server).putBucketACL},
	{bucketLevel, http.MethodGet, "", false}:                     {"ListObjects", (*Server).listObjects},
	{bucketLevel, http.MethodGet, "location", false}:             {"GetBucketLocation", (*Server).getLocation},
	{bucketLevel, http.MethodGet, "versioning", false}:           {"GetBucketVersioning", (*Server).getVersioning},
	{bucketLevel, http.MethodGet, "versions", false}:             {"ListObjectVersions", (*Server).listVersions},
	{bucketLevel, http.MethodGet, "uploads", false}:              {"ListMultipartUploads", (*Server).listUploads},
	{bucketLevel, http.MethodGet, "policy", false}:               {"GetBucketPolicy", (*Server).getPolicy},
	{bucketLevel, http.MethodGet, "cors", false}:                 {"GetBucketCors", (*Server).getCORS},
	{bucketLevel, http.MethodGet, "tagging", false}:              {"GetBucketTagging", (*Server).getBucketTagging},
	{bucketLevel, http.MethodGet, "acl", false}:                  {"GetBucketAcl", (*Server).getBucketACL},
	{bucketLevel, http.MethodHead, "", false}:                    {"HeadBucket", (*Server).headBucket},
	{bucketLevel, http.MethodDelete, "", false}:                  {"DeleteBucket", (*Server).deleteBucket},
	{bucketLevel, http.MethodDelete, "policy", false}:            {"DeleteBucketPolicy", (*Server).deletePolicy},
	{bucketLevel, http.MethodDelete, "cors", false}:              {"DeleteBucketCors", (*Server).deleteCORS},
	{bucketLevel, http.MethodDelete, "tagging", false}:           {"DeleteBucketTagging", (*Server).deleteBucketTagging},
	{bucketLevel, http.MethodPost, "delete", false}:              {"DeleteObjects", (*Server).deleteObjects},
	{bucketLevel, http.MethodPost, "", false}:                    {"PostObject", (*Server).postObject},
	{bucketLevel, http.MethodPut, "object-lock", false}:          {"PutObjectLockConfiguration", (*Server).putObjectLockConfig},
	{bucketLevel, http.MethodPut, "lifecycle", false}:            {"PutBucketLifecycleConfiguration", (*Server).putLifecycle},
	{bucketLevel, http.MethodPut, "publicAccessBlock", false}:    {"PutPublicAccessBlock", (*Server).putPublicAccessBlock},
	{bucketLevel, http.MethodGet, "publicAccessBlock", false}:    {"GetPublicAccessBlock", (*Server).getPublicAccessBlock},
	{bucketLevel, http.MethodDelete, "publicAccessBlock", false}: {"DeletePublicAccessBlock", (*Server).deletePublicAccessBlock},
	{bucketLevel, http.MethodPut, "ownershipControls", false}:    {"PutBucketOwnershipControls", (*Server).putOwnershipControls},
	{bucketLevel, http.MethodGet, "ownershipControls", false}:    {"GetBucketOwnershipControls", (*Server).getOwnershipControls},
	{bucketLevel, http.MethodDelete, "ownershipControls", false}: {"DeleteBucketOwnershipControls", (*Server).deleteOwnershipControls},
	{bucketLevel, http.MethodGet, "lifecycle", false}:            {"GetBucketLifecycleConfiguration", (*Server).getLifecycle},
	{bucketLevel, http.MethodDelete, "lifecycle", false}:         {"DeleteBucketLifecycle", (*Server).deleteLifecycle},
	{bucketLevel, http.MethodGet, "object-lock", false}:          {"GetObjectLockConfiguration", (*Server).getObjectLockConfig},
	{bucketLevel, http.MethodPut, "encryption", false}:           {"PutBucketEncryption", (*Server).putBucketEncryption},
	{bucketLevel, http.MethodGet, "encryption", false}:           {"GetBucketEncryption", (*Server).getBucketEncryption},
	{bucketLevel, http.MethodDelete, "encryption", false}:        {"DeleteBucketEncryption", (*Server).deleteBucketEncryption},
	{bucketLevel, http.MethodPut, "website", false}:              {"PutBucketWebsite", (*Server).putBucketWebsite},
	{bucketLevel, http.MethodGet, "website", false}:              {"GetBucketWebsite", (*Server).getBucketWebsite},
	{bucketLevel, http.MethodDelete, "website", false}:           {"DeleteBucketWebsite", (*Server).deleteBucketWebsite},

	{objectLevel, http.MethodPut, "", false}:            {"PutObject", (*Server).putObject},
	{objectLevel, http.MethodPut, "", true}:             {"CopyObject", (*Server).copyObject},
	{objectLevel, http.MethodPut, "uploadId", false}:    {"UploadPart", (*Server).uploadPart},
	{objectLevel, http.MethodPut, "uploadId", true}:     {"UploadPartCopy", (*Server).uploadPartCopy},
	{objectLevel, http.MethodPut, "tagging", false}:     {"PutObjectTagging", (*Server).putObjectTagging},
	{objectLevel, http.MethodPut, "acl", false}:         {"PutObjectAcl", (*Server).putObjectACL},
	{objectLevel, http.MethodGet, "", false}:            {"GetObject", (*Server).getObject},
	{objectLevel, http.MethodGet, "uploadId", false}:    {"ListParts", (*Server).listParts},
	{objectLevel, http.MethodGet, "tagging", false}:     {"GetObjectTagging", (*Server).getObjectTagging},
	{objectLevel, http.MethodGet, "acl", false}:         {"GetObjectAcl", (*Server).getObjectACL},
	{objectLevel, http.MethodGet, "attributes", false}:  {"GetObjectAttributes", (*Server).getObjectAttributes},
	{objectLevel, http.MethodHead, "", false}:           {"HeadObject", (*Server).getObject},
	{objectLevel, http.MethodPost, "uploads", false}:    {"CreateMultipartUpload", (*Server).createUpload},
	{objectLevel, http.MethodPost, "uploadId", false}:   {"CompleteMultipartUpload", (*Server).completeUpload},
	{objectLevel, http.MethodDelete, "", false}:         {"DeleteObject", (*Server).deleteObject},
	{objectLevel, http.MethodDelete, "uploadId", false}: {"AbortMultipartUpload", (*Server).abortUpload},
	{objectLevel, http.MethodDelete, "tagging", false}:  {"DeleteObjectTagging", (*Server).deleteObjectTagging},
	{objectLevel, http.MethodPut, "retention", false}:   {"PutObjectRetention", (*Server).putObjectRetention},
	{objectLevel, http.MethodGet, "retention", false}:   {"GetObjectRetention", (*Server).getObjectRetention},
	{objectLevel, http.MethodPut, "legal-hold", false}:  {"PutObjectLegalHold", (*Server).putObjectLegalHold},
	{objectLevel, http.MethodGet, "legal-hold", false}:  {"GetObjectLegalHold", (*Server).getObjectLegalHold},
}

// subresources are the query parameters that select an operation in the
// AWS S3 API reference, implemented or not.
var subresources = map[string]bool{
	"accelerate": true, "acl": true, "analytics": true, "attributes": true, "cors": true, "delete": true,
	"encryption": true, "intelligent-tiering": true, "inventory": true, "legal-hold": true, "lifecycle": true,
	"location": true, "logging": true, "metadataConfiguration": true, "metadataTable": true, "metrics": true,
	"notification": true, "object-lock": true, "ownershipControls": true, "policy": true, "policyStatus": true,
	"publicAccessBlock": true, "renameObject": true, "replication": true, "requestPayment": true, "restore": true,
	"retention": true, "select": true, "session": true, "tagging": true, "torrent": true, "uploadId": true,
	"uploads": true, "versioning": true, "versions": true, "website": true,
}

// unimplementedHeaders ask for features sov does not have; a request that
// carries one answers NotImplemented rather than doing less than asked.
var unimplementedHeaders = []string{
	"X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", "X-Amz-Server-Side-Encryption-Context",
}

// route picks the S3 operation for a request; a request that names no
// implemented operation gets a handler that answers the error and changes nothing.
func route(req *request) (string, handler) {
	k := routeKey{level: objectLevel, method: req.r.Method, copy: req.r.Header.Get("X-Amz-Copy-Source") != ""}
	switch {
	case req.bucket == "":
		k.level = serviceLevel
	case req.key == "":
		k.level = bucketLevel
	}
	if k.method == http.MethodOptions && k.level != serviceLevel {
		return "Preflight", nil
	}
	var subs []string
	for name := range req.q {
		if subresources[name] {
			subs = append(subs, name)
		}
	}
	fail := func(err error) handler { return func(*Server, *request) error { return err } }
	switch {
	case len(subs) > 1:
		return "Unsupported", fail(s3err(http.StatusBadRequest, "InvalidRequest", "The request names more than one subresource: %s.", strings.Join(subs, ", ")))
	case len(subs) == 1:
		k.sub = subs[0]
	}
	for _, h := range unimplementedHeaders {
		if req.r.Header.Get(h) != "" {
			return "NotImplemented", fail(s3err(http.StatusNotImplemented, "NotImplemented", "The header %s implies functionality that is not implemented.", h))
		}
	}
	if storage := req.r.Header.Get("X-Amz-Storage-Class"); storage != "" && storage != "STANDARD" {
		return "NotImplemented", fail(s3err(http.StatusNotImplemented, "NotImplemented", "Storage class %s is not implemented; objects are stored as STANDARD.", storage))
	}
	if e, ok := routes[k]; ok {
		return e.op, e.h
	}
	if k.sub != "" {
		return "NotImplemented", fail(s3err(http.StatusNotImplemented, "NotImplemented", "%s %s is not implemented.", k.method, k.sub))
	}
	return "Unsupported", fail(errMethodNotAllowed)
}
