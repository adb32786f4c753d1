package objectstore

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"strings"
	"time"

	"github.com/sovcloud/sov/internal/store"
)

// Object lock, as AWS has it: a bucket created with object lock (its
// versioning on for good) may have a default retention; each version may
// carry a retention (GOVERNANCE or COMPLIANCE, until a date) and a legal
// hold. While either holds, nobody deletes that version; GOVERNANCE yields
// to x-amz-bypass-governance-retention with the s3:BypassGovernanceRetention
// permission, COMPLIANCE to nothing.

// lockConfig is a bucket's object lock configuration.
type lockConfig struct {
	Enabled bool   `json:"enabled"`
	Mode    string `json:"mode,omitempty"` // default retention
	Days    int    `json:"days,omitempty"`
}

func (b *bucket) lock() lockConfig {
	var c lockConfig
	if b.ObjectLock != "" {
		json.Unmarshal([]byte(b.ObjectLock), &c)
	}
	return c
}

var errNoLockConfig = s3err(http.StatusBadRequest, "InvalidRequest", "Bucket is missing Object Lock Configuration")

// applyDefaultRetention gives a new version the bucket's default retention.
func applyDefaultRetention(b *bucket, o *object) {
	if c := b.lock(); c.Enabled && c.Mode != "" && c.Days > 0 {
		o.LockMode = c.Mode
		o.LockUntil = time.UnixMicro(o.Modified).Add(time.Duration(c.Days) * 24 * time.Hour).UnixMicro()
	}
}

func validLockMode(m string) bool { return m == "GOVERNANCE" || m == "COMPLIANCE" }

// lockFromRequest reads the object lock headers of a write (PutObject,
// CopyObject, CreateMultipartUpload) into o.
func lockFromRequest(req *request, b *bucket, o *object) error {
	h := req.r.Header
	mode, until, hold := h.Get("X-Amz-Object-Lock-Mode"), h.Get("X-Amz-Object-Lock-Retain-Until-Date"), h.Get("X-Amz-Object-Lock-Legal-Hold")
	if mode == "" && until == "" && hold == "" {
		return nil
	}
	if !b.lock().Enabled {
		return errNoLockConfig
	}
	if (mode == "") != (until == "") {
		return invalidArgument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
	}
	if mode != "" {
		t, err := time.Parse(time.RFC3339, until)
		if err != nil || !validLockMode(mode) {
			return invalidArgument("The retain until date or the object lock mode is not valid.")
		}
		if !t.After(time.Now()) {
			return invalidArgument("The retain until date must be in the future!")
		}
		o.LockMode, o.LockUntil = mode, t.UnixMicro()
	}
	switch hold {
	case "":
	case "ON", "OFF":
		o.LegalHold = hold == "ON"
	default:
		return invalidArgument("Legal Hold must be either of 'ON' or 'OFF'")
	}
	return nil
}

// lockHeaders puts a version's retention and legal hold on a GET or HEAD.
func lockHeaders(h http.Header, o *object) {
	if o.LockMode != "" {
		h.Set("X-Amz-Object-Lock-Mode", o.LockMode)
		h.Set("X-Amz-Object-Lock-Retain-Until-Date", time.UnixMicro(o.LockUntil).UTC().Format(time.RFC3339))
	}
	if o.LegalHold {
		h.Set("X-Amz-Object-Lock-Legal-Hold", "ON")
	}
}

var errLocked = s3err(http.StatusForbidden, "AccessDenied", "Access Denied because object protected by object lock.")

// checkLock refuses to delete (or shorten) a version that its lock protects.
// bypass is an authorised x-amz-bypass-governance-retention.
func checkLock(o *object, bypass bool) error {
	if o.LegalHold {
		return errLocked
	}
	if o.LockMode == "" || time.Now().UnixMicro() >= o.LockUntil {
		return nil
	}
	if o.LockMode == "GOVERNANCE" && bypass {
		return nil
	}
	return errLocked
}

// bypassGovernance reports whether the request asks to bypass governance
// retention and may: the header, and s3:BypassGovernanceRetention.
func (s *Server) bypassGovernance(req *request, b *bucket, key string) bool {
	if !strings.EqualFold(req.r.Header.Get("X-Amz-Bypass-Governance-Retention"), "true") {
		return false
	}
	return s.authorize(req, b, key, accessWrite, "s3:BypassGovernanceRetention", "") == nil
}

type objectLockConfiguration struct {
	XMLName           xml.Name        `xml:"ObjectLockConfiguration"`
	NS                string          `xml:"xmlns,attr,omitempty"`
	ObjectLockEnabled string          `xml:",omitempty"`
	Rule              *objectLockRule `xml:",omitempty"`
}

type objectLockRule struct {
	DefaultRetention struct {
		Mode  string
		Days  int `xml:",omitempty"`
		Years int `xml:",omitempty"`
	}
}

func (s *Server) putObjectLockConfig(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:PutBucketObjectLockConfiguration")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var cfg objectLockConfiguration
	if xml.Unmarshal(body, &cfg) != nil || cfg.ObjectLockEnabled != "Enabled" {
		return errMalformedXML
	}
	if !b.lock().Enabled && b.Versioning != "Enabled" {
		return s3err(http.StatusConflict, "InvalidBucketState", "Versioning must be 'Enabled' on the bucket to apply a Object Lock configuration")
	}
	c := lockConfig{Enabled: true}
	if r := cfg.Rule; r != nil {
		d := r.DefaultRetention
		if !validLockMode(d.Mode) || (d.Days > 0) == (d.Years > 0) || d.Days < 0 || d.Years < 0 || d.Years > 100 || d.Days > 36500 {
			return errMalformedXML
		}
		c.Mode, c.Days = d.Mode, d.Days+365*d.Years
	}
	enc, _ := json.Marshal(c)
	if _, err := s.db.Exec(req.r.Context(), `UPDATE buckets SET object_lock = ?, versioning = 'Enabled' WHERE name = ?`, string(enc), b.Name); err != nil {
		return err
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectLockConfig(req *request) error {
	b, err := s.bucketFor(req, accessAdmin, "s3:GetBucketObjectLockConfiguration")
	if err != nil {
		return err
	}
	c := b.lock()
	if !c.Enabled {
		return s3err(http.StatusNotFound, "ObjectLockConfigurationNotFoundError", "Object Lock configuration does not exist for this bucket")
	}
	out := objectLockConfiguration{NS: s3NS, ObjectLockEnabled: "Enabled"}
	if c.Mode != "" {
		out.Rule = &objectLockRule{}
		out.Rule.DefaultRetention.Mode, out.Rule.DefaultRetention.Days = c.Mode, c.Days
	}
	return writeXML(req.w, http.StatusOK, out)
}

type retention struct {
	XMLName         xml.Name `xml:"Retention"`
	NS              string   `xml:"xmlns,attr,omitempty"`
	Mode            string   `xml:",omitempty"`
	RetainUntilDate string   `xml:",omitempty"`
}

// lockedObject loads the version of a retention or legal hold request on a
// bucket with object lock.
func (s *Server) lockedObject(req *request, access, action string) (*bucket, *object, error) {
	b, err := s.getBucket(req.r.Context(), req.bucket)
	if err != nil {
		return nil, nil, err
	}
	o, err := s.objectFor(req, b, req.key, req.q.Get("versionId"), access, action)
	if err != nil {
		return nil, nil, err
	}
	if !b.lock().Enabled {
		return nil, nil, errNoLockConfig
	}
	if o.DeleteMarker {
		return nil, nil, errMethodNotAllowed
	}
	return b, o, nil
}

func (s *Server) putObjectRetention(req *request) error {
	b, o, err := s.lockedObject(req, accessWrite, "s3:PutObjectRetention")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var r retention
	if xml.Unmarshal(body, &r) != nil || (r.Mode == "") != (r.RetainUntilDate == "") || (r.Mode != "" && !validLockMode(r.Mode)) {
		return errMalformedXML
	}
	var until int64
	if r.Mode != "" {
		t, err := time.Parse(time.RFC3339, r.RetainUntilDate)
		if err != nil {
			return errMalformedXML
		}
		if !t.After(time.Now()) {
			return invalidArgument("The retain until date must be in the future!")
		}
		until = t.UnixMicro()
	}
	// Only as strict or stricter, unless governance is bypassed: never
	// shorter, never from COMPLIANCE to GOVERNANCE or to nothing.
	active := o.LockMode != "" && time.Now().UnixMicro() < o.LockUntil
	weaker := active && (r.Mode == "" || until < o.LockUntil || (o.LockMode == "COMPLIANCE" && r.Mode != "COMPLIANCE"))
	if weaker && (o.LockMode == "COMPLIANCE" || !s.bypassGovernance(req, b, req.key)) {
		return errLocked
	}
	if err := store.Affected(s.db.Exec(req.r.Context(), `UPDATE objects SET lock_mode = ?, lock_until = ? WHERE bucket = ? AND key = ? AND version_id = ?`,
		r.Mode, until, o.Bucket, o.Key, o.VersionID)); err != nil {
		return errNoSuchKey
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectRetention(req *request) error {
	_, o, err := s.lockedObject(req, accessRead, "s3:GetObjectRetention")
	if err != nil {
		return err
	}
	if o.LockMode == "" {
		return s3err(http.StatusNotFound, "NoSuchObjectLockConfiguration", "The specified object does not have a ObjectLock configuration")
	}
	return writeXML(req.w, http.StatusOK, retention{NS: s3NS, Mode: o.LockMode, RetainUntilDate: time.UnixMicro(o.LockUntil).UTC().Format(time.RFC3339)})
}

type legalHold struct {
	XMLName xml.Name `xml:"LegalHold"`
	NS      string   `xml:"xmlns,attr,omitempty"`
	Status  string
}

func (s *Server) putObjectLegalHold(req *request) error {
	_, o, err := s.lockedObject(req, accessWrite, "s3:PutObjectLegalHold")
	if err != nil {
		return err
	}
	body, err := readSmallBody(req, 64<<10)
	if err != nil {
		return err
	}
	var l legalHold
	if xml.Unmarshal(body, &l) != nil || (l.Status != "ON" && l.Status != "OFF") {
		return errMalformedXML
	}
	if err := store.Affected(s.db.Exec(req.r.Context(), `UPDATE objects SET legal_hold = ? WHERE bucket = ? AND key = ? AND version_id = ?`,
		l.Status == "ON", o.Bucket, o.Key, o.VersionID)); err != nil {
		return errNoSuchKey
	}
	req.w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) getObjectLegalHold(req *request) error {
	_, o, err := s.lockedObject(req, accessRead, "s3:GetObjectLegalHold")
	if err != nil {
		return err
	}
	status := "OFF"
	if o.LegalHold {
		status = "ON"
	}
	return writeXML(req.w, http.StatusOK, legalHold{NS: s3NS, Status: status})
}
