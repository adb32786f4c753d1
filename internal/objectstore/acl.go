package objectstore

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
)

// ACLs as S3 has them: a bucket's or an object's owner holds full control,
// and grants give a permission to a canonical user (a project here) or a
// group (everyone, every authenticated caller, log delivery). A bucket's
// READ lists it and WRITE creates and deletes its objects; an object's READ
// reads it; READ_ACP and WRITE_ACP read and change the ACL itself.
//
// An ACL is stored as its canned name, or as JSON of its grants beside the
// owner's. The bucket's project owns every object in it (as with the
// BucketOwnerPreferred ownership): an ACL adds access, it never takes the
// owner's away.

const (
	aclPrivate    = "private"
	aclPublicRead = "public-read"

	groupAllUsers      = "http://acs.amazonaws.com/groups/global/AllUsers"
	groupAuthenticated = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
	groupLogDelivery   = "http://acs.amazonaws.com/groups/s3/LogDelivery"

	permRead        = "READ"
	permWrite       = "WRITE"
	permReadACP     = "READ_ACP"
	permWriteACP    = "WRITE_ACP"
	permFullControl = "FULL_CONTROL"
)

// aclGrant is one grant: to a canonical user (ID) or a group (URI).
type aclGrant struct {
	ID         string `json:"id,omitempty"`
	URI        string `json:"uri,omitempty"`
	Permission string `json:"p"`
}

// cannedGrants are the grants of each canned ACL beside the owner's.
var cannedGrants = map[string][]aclGrant{
	aclPrivate:                  nil,
	aclPublicRead:               {{URI: groupAllUsers, Permission: permRead}},
	"public-read-write":         {{URI: groupAllUsers, Permission: permRead}, {URI: groupAllUsers, Permission: permWrite}},
	"authenticated-read":        {{URI: groupAuthenticated, Permission: permRead}},
	"bucket-owner-read":         nil, // the bucket's owner owns the object already
	"bucket-owner-full-control": nil,
	"log-delivery-write":        {{URI: groupLogDelivery, Permission: permWrite}, {URI: groupLogDelivery, Permission: permReadACP}},
}

// grantsOf returns the grants of a stored ACL beside the owner's.
func grantsOf(stored string) []aclGrant {
	if g, ok := cannedGrants[stored]; ok || stored == "" {
		return g
	}
	var g []aclGrant
	json.Unmarshal([]byte(stored), &g)
	return g
}

// aclIsPublic reports whether an ACL grants to everyone or every
// authenticated caller, as the public access block judges it.
func aclIsPublic(stored string) bool {
	for _, g := range grantsOf(stored) {
		if g.URI == groupAllUsers || g.URI == groupAuthenticated {
			return true
		}
	}
	return false
}

// aclGrantsAccess reports whether a stored ACL gives the caller (nil for
// anonymous) perm; public grants count only when countPublic is set.
func aclGrantsAccess(stored string, caller *Owner, perm string, countPublic bool) bool {
	for _, g := range grantsOf(stored) {
		if g.Permission != perm && g.Permission != permFullControl {
			continue
		}
		switch {
		case g.URI == groupAllUsers && countPublic:
			return true
		case g.URI == groupAuthenticated && countPublic && caller != nil:
			return true
		case g.ID != "" && caller != nil && g.ID == caller.ProjectID:
			return true
		}
	}
	return false
}

// aclPermission is the ACL permission that grants an action, "" for one
// no ACL grants, and whether the object's ACL (not the bucket's) holds it.
func aclPermission(action string) (perm string, onObject bool) {
	switch action {
	case "s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectAttributes", "s3:GetObjectVersionAttributes":
		return permRead, true
	case "s3:GetObjectAcl", "s3:GetObjectVersionAcl":
		return permReadACP, true
	case "s3:PutObjectAcl", "s3:PutObjectVersionAcl":
		return permWriteACP, true
	case "s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads":
		return permRead, false
	case "s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts":
		return permWrite, false
	case "s3:GetBucketAcl":
		return permReadACP, false
	case "s3:PutBucketAcl":
		return permWriteACP, false
	}
	return "", false
}

var canonicalIDRE = regexp.MustCompile(`^[0-9a-f]{32,64}$`)

// checkGrant validates a grant of a request.
func checkGrant(g aclGrant, email string) error {
	switch {
	case email != "":
		return s3err(http.StatusNotImplemented, "NotImplemented", "Grants by email address are not implemented (AWS has retired them); grant to the canonical user id (the project id) instead.")
	case g.ID != "" && !canonicalIDRE.MatchString(g.ID):
		return invalidArgument("Invalid id")
	case g.URI != "" && g.URI != groupAllUsers && g.URI != groupAuthenticated && g.URI != groupLogDelivery:
		return invalidArgument("Invalid group uri")
	case g.ID == "" && g.URI == "":
		return errMalformedACL
	}
	switch g.Permission {
	case permRead, permWrite, permReadACP, permWriteACP, permFullControl:
		return nil
	}
	return errMalformedACL
}

var errMalformedACL = s3err(http.StatusBadRequest, "MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema")

// grantHeaders are the x-amz-grant-* headers and the permission each gives.
var grantHeaders = map[string]string{
	"X-Amz-Grant-Read": permRead, "X-Amz-Grant-Write": permWrite, "X-Amz-Grant-Read-Acp": permReadACP,
	"X-Amz-Grant-Write-Acp": permWriteACP, "X-Amz-Grant-Full-Control": permFullControl,
}

var granteeRE = regexp.MustCompile(`^\s*(id|uri|emailAddress)\s*=\s*"?([^",]*)"?\s*$`)

// aclFromHeaders reads the ACL a request's headers ask for: x-amz-acl (a
// canned ACL) or x-amz-grant-* headers; "private" when there are none.
func aclFromHeaders(h http.Header) (string, error) {
	canned := h.Get("X-Amz-Acl")
	var grants []aclGrant
	for name, perm := range grantHeaders {
		v := h.Get(name)
		if v == "" {
			continue
		}
		for _, item := range strings.Split(v, ",") {
			m := granteeRE.FindStringSubmatch(item)
			if m == nil {
				return "", invalidArgument("Invalid grantee in %s: %s", name, item)
			}
			g, email := aclGrant{Permission: perm}, ""
			switch m[1] {
			case "id":
				g.ID = m[2]
			case "uri":
				g.URI = m[2]
			default:
				email = m[2]
			}
			if err := checkGrant(g, email); err != nil {
				return "", err
			}
			grants = append(grants, g)
		}
	}
	switch {
	case canned != "" && grants != nil:
		return "", s3err(http.StatusBadRequest, "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")
	case grants != nil:
		return encodeGrants(grants), nil
	}
	return cannedACL(canned)
}

func encodeGrants(g []aclGrant) string {
	if len(g) == 0 {
		return aclPrivate
	}
	b, _ := json.Marshal(g)
	return string(b)
}

func cannedACL(v string) (string, error) {
	if v == "" {
		return aclPrivate, nil
	}
	if _, ok := cannedGrants[v]; ok {
		return v, nil
	}
	if v == "aws-exec-read" {
		return "", s3err(http.StatusNotImplemented, "NotImplemented", "The canned ACL aws-exec-read (read access for Amazon EC2) has no meaning here.")
	}
	return "", invalidArgument("Invalid canned ACL: %s", v)
}

// The AccessControlPolicy documents of GetBucketAcl, GetObjectAcl and the PUTs.

const xsiNS = "http://www.w3.org/2001/XMLSchema-instance"

type accessControlPolicy struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	NS      string   `xml:"xmlns,attr"`
	Owner   owner
	Grants  []grant `xml:"AccessControlList>Grant"`
}

type grant struct {
	Grantee    grantee
	Permission string
}

type grantee struct {
	XMLNS string `xml:"xmlns:xsi,attr"`
	Type  string `xml:"xsi:type,attr"`
	ID    string `xml:",omitempty"`
	URI   string `xml:",omitempty"`
}

// aclPolicy is the document of an ACL of a bucket or object owned by projectID.
func aclPolicy(projectID, stored string) accessControlPolicy {
	p := accessControlPolicy{NS: s3NS, Owner: owner{ID: projectID, DisplayName: projectID},
		Grants: []grant{{Grantee: grantee{XMLNS: xsiNS, Type: "CanonicalUser", ID: projectID}, Permission: permFullControl}}}
	for _, g := range grantsOf(stored) {
		ge := grantee{XMLNS: xsiNS, Type: "Group", URI: g.URI}
		if g.ID != "" {
			ge = grantee{XMLNS: xsiNS, Type: "CanonicalUser", ID: g.ID}
		}
		p.Grants = append(p.Grants, grant{Grantee: ge, Permission: g.Permission})
	}
	return p
}

// aclBody is an AccessControlPolicy as a PUT sends it.
type aclBody struct {
	XMLName xml.Name `xml:"AccessControlPolicy"`
	Owner   struct{ ID string }
	Grants  []struct {
		Grantee struct {
			Type         string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			ID           string
			URI          string
			EmailAddress string
		}
		Permission string
	} `xml:"AccessControlList>Grant"`
}

// aclFromRequest reads the ACL of an ACL PUT on something owned by
// projectID: from its headers, or from an AccessControlPolicy body.
func aclFromRequest(req *request, projectID string) (string, error) {
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return "", err
	}
	if len(body) == 0 {
		return aclFromHeaders(req.r.Header)
	}
	if req.r.Header.Get("X-Amz-Acl") != "" {
		return "", s3err(http.StatusBadRequest, "UnexpectedContent", "This request does not support content")
	}
	var p aclBody
	if xml.Unmarshal(body, &p) != nil {
		return "", errMalformedACL
	}
	if p.Owner.ID != "" && p.Owner.ID != projectID {
		return "", errAccessDenied
	}
	var grants []aclGrant
	for _, g := range p.Grants {
		ag := aclGrant{ID: g.Grantee.ID, URI: g.Grantee.URI, Permission: g.Permission}
		switch g.Grantee.Type {
		case "CanonicalUser":
			ag.URI = ""
		case "Group":
			ag.ID = ""
		case "AmazonCustomerByEmail":
		default:
			return "", errMalformedACL
		}
		if err := checkGrant(ag, g.Grantee.EmailAddress); err != nil {
			return "", err
		}
		if ag.ID == projectID {
			continue // the owner holds full control anyway
		}
		grants = append(grants, ag)
	}
	return encodeGrants(grants), nil
}

// newACL is the ACL an ACL PUT sets on b or an object in it, as b allows.
func newACL(req *request, b *bucket) (string, error) {
	acl, err := aclFromRequest(req, b.ProjectID)
	if err != nil {
		return "", err
	}
	return acl, checkACL(b, acl)
}

func (s *Server) putBucketACL(req *request) error {
	b, err := s.bucketFor(req, accessWrite, "s3:PutBucketAcl")
	if err != nil {
		return err
	}
	acl, err := newACL(req, b)
	if err != nil {
		return err
	}
	return s.setBucketField(req, "acl", acl, http.StatusOK)
}

func (s *Server) getBucketACL(req *request) error {
	b, err := s.bucketFor(req, accessRead, "s3:GetBucketAcl")
	if err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, aclPolicy(b.ProjectID, b.ACL))
}

func (s *Server) putObjectACL(req *request) error {
	b, o, err := s.requestObject(req, accessWrite, "s3:PutObjectAcl")
	if err != nil {
		return err
	}
	acl, err := newACL(req, b)
	if err != nil {
		return err
	}
	return s.setObjectField(req, o, "acl", acl)
}

func (s *Server) getObjectACL(req *request) error {
	b, o, err := s.requestObject(req, accessRead, "s3:GetObjectAcl")
	if err != nil {
		return err
	}
	return writeXML(req.w, http.StatusOK, aclPolicy(b.ProjectID, o.ACL))
}
