package objectstore

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"time"
)

// Lifecycle configurations (PutBucketLifecycleConfiguration and friends):
// rules that expire current versions (by age or date), noncurrent versions
// and lone delete markers, and abort old multipart uploads, filtered by
// prefix, tags and size. Transitions to other storage classes are not
// implemented and are refused. The rules run in lifecycleWorker.

type lifecycleConfiguration struct {
	XMLName xml.Name        `xml:"LifecycleConfiguration"`
	NS      string          `xml:"xmlns,attr,omitempty"`
	Rules   []lifecycleRule `xml:"Rule"`
}

type lifecycleRule struct {
	ID     string `xml:"ID,omitempty" json:"id,omitempty"`
	Status string `json:"status"`
	// Prefix is the rule's prefix in the older form, without a Filter.
	Prefix *string          `xml:"Prefix" json:"prefix,omitempty"`
	Filter *lifecycleFilter `xml:"Filter" json:"filter,omitempty"`

	Expiration *struct {
		Days                      int    `xml:",omitempty" json:"days,omitempty"`
		Date                      string `xml:",omitempty" json:"date,omitempty"`
		ExpiredObjectDeleteMarker bool   `xml:",omitempty" json:"expired_delete_marker,omitempty"`
	} `xml:",omitempty" json:"expiration,omitempty"`
	NoncurrentVersionExpiration *struct {
		NoncurrentDays          int `xml:",omitempty" json:"noncurrent_days,omitempty"`
		NewerNoncurrentVersions int `xml:",omitempty" json:"newer_noncurrent_versions,omitempty"`
	} `xml:",omitempty" json:"noncurrent_expiration,omitempty"`
	AbortIncompleteMultipartUpload *struct {
		DaysAfterInitiation int `json:"days_after_initiation"`
	} `xml:",omitempty" json:"abort_incomplete_multipart_upload,omitempty"`
	Transition                  *struct{} `xml:",omitempty" json:"-"`
	NoncurrentVersionTransition *struct{} `xml:",omitempty" json:"-"`
}

type lifecycleFilter struct {
	Prefix                string `xml:",omitempty" json:"prefix,omitempty"`
	Tag                   *tag   `xml:",omitempty" json:"tag,omitempty"`
	ObjectSizeGreaterThan int64  `xml:",omitempty" json:"size_gt,omitempty"`
	ObjectSizeLessThan    int64  `xml:",omitempty" json:"size_lt,omitempty"`
	And                   *struct {
		Prefix                string `xml:",omitempty" json:"prefix,omitempty"`
		Tags                  []tag  `xml:"Tag" json:"tags,omitempty"`
		ObjectSizeGreaterThan int64  `xml:",omitempty" json:"size_gt,omitempty"`
		ObjectSizeLessThan    int64  `xml:",omitempty" json:"size_lt,omitempty"`
	} `xml:",omitempty" json:"and,omitempty"`
}

// check validates a configuration as AWS does (the parts sov implements).
func (c *lifecycleConfiguration) check() error {
	if len(c.Rules) == 0 || len(c.Rules) > 1000 {
		return errMalformedXML
	}
	ids := map[string]bool{}
	for i := range c.Rules {
		r := &c.Rules[i]
		if r.Transition != nil || r.NoncurrentVersionTransition != nil {
			return s3err(http.StatusNotImplemented, "NotImplemented", "Lifecycle transitions to other storage classes are not implemented.")
		}
		if r.Status != "Enabled" && r.Status != "Disabled" {
			return errMalformedXML
		}
		if len(r.ID) > 255 || (r.ID != "" && ids[r.ID]) {
			return invalidArgument("Rule ID must be unique and at most 255 characters.")
		}
		ids[r.ID] = true
		if r.Expiration == nil && r.NoncurrentVersionExpiration == nil && r.AbortIncompleteMultipartUpload == nil {
			return invalidArgument("At least one action needs to be specified in a rule.")
		}
		if e := r.Expiration; e != nil {
			set := 0
			if e.Days != 0 {
				set++
			}
			if e.Date != "" {
				set++
				t, err := time.Parse(time.RFC3339, e.Date)
				if err != nil || !t.Equal(t.Truncate(24*time.Hour)) {
					return invalidArgument("'Date' must be at midnight GMT.")
				}
			}
			if e.ExpiredObjectDeleteMarker {
				set++
			}
			if set != 1 || e.Days < 0 {
				return errMalformedXML
			}
		}
		if n := r.NoncurrentVersionExpiration; n != nil && (n.NoncurrentDays <= 0 || n.NewerNoncurrentVersions < 0 || n.NewerNoncurrentVersions > 100) {
			return invalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer.")
		}
		if a := r.AbortIncompleteMultipartUpload; a != nil && a.DaysAfterInitiation <= 0 {
			return invalidArgument("'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer.")
		}
		if r.Prefix != nil && r.Filter != nil {
			return errMalformedXML
		}
	}
	return nil
}

// matches reports whether the rule's filter takes an object.
func (r *lifecycleRule) matches(key string, size int64, tags string) bool {
	prefix, gt, lt := "", int64(0), int64(0)
	var want []tag
	switch f := r.Filter; {
	case r.Prefix != nil:
		prefix = *r.Prefix
	case f == nil:
	case f.And != nil:
		prefix, want, gt, lt = f.And.Prefix, f.And.Tags, f.And.ObjectSizeGreaterThan, f.And.ObjectSizeLessThan
	default:
		prefix, gt, lt = f.Prefix, f.ObjectSizeGreaterThan, f.ObjectSizeLessThan
		if f.Tag != nil {
			want = []tag{*f.Tag}
		}
	}
	if !strings.HasPrefix(key, prefix) || (gt > 0 && size <= gt) || (lt > 0 && size >= lt) {
		return false
	}
	have := map[string]string{}
	for _, t := range decodeTags(tags) {
		have[t.Key] = t.Value
	}
	for _, t := range want {
		if v, ok := have[t.Key]; !ok || v != t.Value {
			return false
		}
	}
	return true
}

func (s *Server) putLifecycle(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutLifecycleConfiguration")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 1<<20)
	if err != nil {
		return err
	}
	var c lifecycleConfiguration
	if xml.Unmarshal(body, &c) != nil {
		return errMalformedXML
	}
	if err := c.check(); err != nil {
		return err
	}
	enc, _ := json.Marshal(c.Rules)
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET lifecycle = ? WHERE name = ?`, string(enc), b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getLifecycle(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetLifecycleConfiguration")
	if err != nil {
		return err
	}
	rules, err := s.lifecycleRules(req.r.Context(), b.Name)
	if err != nil {
		return err
	}
	if len(rules) == 0 {
		return s3err(http.StatusNotFound, "NoSuchLifecycleConfiguration", "The lifecycle configuration does not exist")
	}
	return writeXML(req.w, http.StatusOK, lifecycleConfiguration{NS: s3NS, Rules: rules})
}

func (s *Server) deleteLifecycle(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutLifecycleConfiguration")
	if err != nil {
		return err
	}
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET lifecycle = '' WHERE name = ?`, b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusNoContent)
	return nil
}
