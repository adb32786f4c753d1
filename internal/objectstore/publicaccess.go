package objectstore

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
)

// Public access block and object ownership, as AWS has them: a bucket may
// block public ACLs (refuse setting them), ignore public ACLs (they grant
// nothing), block public policies (refuse setting one) and restrict public
// buckets (a public policy grants nothing beyond the owner). With the
// ownership BucketOwnerEnforced, ACLs are off altogether.

type publicAccessBlock struct {
	XMLName               xml.Name `xml:"PublicAccessBlockConfiguration" json:"-"`
	NS                    string   `xml:"xmlns,attr,omitempty" json:"-"`
	BlockPublicAcls       bool     `json:"block_public_acls"`
	IgnorePublicAcls      bool     `json:"ignore_public_acls"`
	BlockPublicPolicy     bool     `json:"block_public_policy"`
	RestrictPublicBuckets bool     `json:"restrict_public_buckets"`
}

func (b *bucket) publicAccess() publicAccessBlock {
	var p publicAccessBlock
	if b.PublicAccessBlock != "" {
		json.Unmarshal([]byte(b.PublicAccessBlock), &p)
	}
	return p
}

const ownerEnforced = "BucketOwnerEnforced"

// checkACL refuses an ACL that the bucket's settings do not allow to be set.
func checkACL(b *bucket, acl string) error {
	if b.Ownership == ownerEnforced && len(grantsOf(acl)) > 0 {
		return s3err(http.StatusBadRequest, "AccessControlListNotSupported", "The bucket does not allow ACLs")
	}
	if aclIsPublic(acl) && b.publicAccess().BlockPublicAcls {
		return s3err(http.StatusForbidden, "AccessDenied", "Access Denied: the bucket's public access block does not allow public ACLs.")
	}
	return nil
}

// policyIsPublic reports whether a policy grants to everyone: an Allow
// without a condition on the source address, as AWS judges it.
func policyIsPublic(text string) bool {
	var doc policyDoc
	if json.Unmarshal([]byte(text), &doc) != nil {
		return false
	}
	for _, st := range doc.Statement {
		if st.Effect != "Allow" || !publicPrincipal(st.Principal) {
			continue
		}
		cond, _ := parseConditions(st.Condition)
		limited := false
		for op, keys := range cond {
			for key := range keys {
				if strings.TrimSuffix(op, "IfExists") == "IpAddress" && strings.EqualFold(key, "aws:SourceIp") {
					limited = true
				}
			}
		}
		if !limited {
			return true
		}
	}
	return false
}

func (s *Server) putPublicAccessBlock(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var p publicAccessBlock
	if xml.Unmarshal(body, &p) != nil {
		return errMalformedXML
	}
	enc, _ := json.Marshal(p)
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET public_access_block = ? WHERE name = ?`, string(enc), b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getPublicAccessBlock(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	if b.PublicAccessBlock == "" {
		return s3err(http.StatusNotFound, "NoSuchPublicAccessBlockConfiguration", "The public access block configuration was not found")
	}
	p := b.publicAccess()
	p.NS = s3NS
	return writeXML(req.w, http.StatusOK, p)
}

func (s *Server) deletePublicAccessBlock(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketPublicAccessBlock")
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET public_access_block = '' WHERE name = ?`, b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}

type ownershipControls struct {
	XMLName xml.Name `xml:"OwnershipControls"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	Rules   []struct {
		ObjectOwnership string
	} `xml:"Rule"`
}

func (s *Server) putOwnershipControls(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketOwnershipControls")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var o ownershipControls
	if xml.Unmarshal(body, &o) != nil || len(o.Rules) != 1 {
		return errMalformedXML
	}
	switch v := o.Rules[0].ObjectOwnership; v {
	case ownerEnforced, "BucketOwnerPreferred", "ObjectWriter":
		if v == ownerEnforced && len(grantsOf(b.ACL)) > 0 {
			return s3err(http.StatusBadRequest, "InvalidBucketAclWithObjectOwnership", "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
		}
	default:
		return errMalformedXML
	}
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET ownership = ? WHERE name = ?`, o.Rules[0].ObjectOwnership, b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getOwnershipControls(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketOwnershipControls")
	if err != nil {
		return err
	}
	if b.Ownership == "" {
		return s3err(http.StatusNotFound, "OwnershipControlsNotFoundError", "The bucket ownership controls were not found")
	}
	out := ownershipControls{NS: s3NS, Rules: []struct{ ObjectOwnership string }{{b.Ownership}}}
	return writeXML(req.w, http.StatusOK, out)
}

func (s *Server) deleteOwnershipControls(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketOwnershipControls")
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET ownership = '' WHERE name = ?`, b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
