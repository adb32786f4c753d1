package objectstore

import (
	"context"
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"
)

// listing is one page of keys under a prefix, grouped by a delimiter.
type listing struct {
	objects     []*object
	prefixes    []string
	truncated   bool
	nextMarker  string // last key or common prefix returned
	nextVersion string // for version listings
}

// listKeys walks the bucket's keys after marker in byte order and returns at
// most max entries (objects plus common prefixes). With versions, every
// version and delete marker is listed, newest first per key, starting after
// (marker, versionMarker).
func (s *Server) listKeys(ctx context.Context, bucket, prefix, delimiter, marker, versionMarker string, max int, versions bool) (*listing, error) {
	l := &listing{}
	if max == 0 {
		return l, nil // nothing asked for, so nothing left out
	}
	seen := map[string]bool{}
	cursor, cursorVersion := marker, versionMarker
	// A marker that is a common prefix continues after everything under it.
	skip := ""
	if delimiter != "" && strings.HasPrefix(marker, prefix) && strings.HasSuffix(marker, delimiter) {
		skip = marker
	}
	const batch = 1000
	for {
		q := `SELECT ` + objectColumns + ` FROM objects WHERE bucket = ?`
		args := []any{bucket}
		if !versions {
			q += ` AND is_latest = ? AND delete_marker = ?`
			args = append(args, true, false)
		}
		if prefix != "" {
			q += ` AND substr(key, 1, ?) = ?`
			args = append(args, utf8.RuneCountInString(prefix), prefix)
		}
		if versions && cursorVersion != "" {
			q += ` AND (key > ? OR (key = ? AND seq < (SELECT seq FROM objects WHERE bucket = ? AND key = ? AND version_id = ?)))`
			args = append(args, cursor, cursor, bucket, cursor, cursorVersion)
		} else {
			q += ` AND key > ?`
			args = append(args, cursor)
		}
		q += ` ORDER BY key, seq DESC LIMIT ` + strconv.Itoa(batch)
		rows, err := s.db.Query(ctx, q, args...)
		if err != nil {
			return nil, err
		}
		n := 0
		for rows.Next() {
			o, err := scanObject(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			n++
			cursor, cursorVersion = o.Key, ""
			if versions {
				cursorVersion = o.VersionID
			}
			if skip != "" && strings.HasPrefix(o.Key, skip) {
				continue
			}
			if delimiter != "" {
				rest := o.Key[len(prefix):]
				if i := strings.Index(rest, delimiter); i >= 0 {
					cp := prefix + rest[:i+len(delimiter)]
					if seen[cp] {
						continue
					}
					if len(l.objects)+len(l.prefixes) == max {
						l.truncated = true
						rows.Close()
						return l, nil
					}
					seen[cp] = true
					l.prefixes = append(l.prefixes, cp)
					l.nextMarker, l.nextVersion = cp, ""
					continue
				}
			}
			if len(l.objects)+len(l.prefixes) == max {
				l.truncated = true
				rows.Close()
				return l, nil
			}
			l.objects = append(l.objects, o)
			l.nextMarker, l.nextVersion = o.Key, o.VersionID
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if n < batch {
			return l, nil
		}
	}
}

func maxKeys(q url.Values) (int, error) {
	v := q.Get("max-keys")
	if v == "" {
		return 1000, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, invalidArgument("max-keys must be a non-negative integer")
	}
	return min(n, 1000), nil
}

type listEntry struct {
	Key               string
	LastModified      string
	ETag              string
	Size              int64
	StorageClass      string
	Owner             *owner `xml:",omitempty"`
	ChecksumAlgorithm string `xml:",omitempty"`
}

type commonPrefix struct {
	Prefix string
}

type listV2Result struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	NS                    string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Delimiter             string `xml:",omitempty"`
	StartAfter            string `xml:",omitempty"`
	ContinuationToken     string `xml:",omitempty"`
	NextContinuationToken string `xml:",omitempty"`
	KeyCount              int
	MaxKeys               int
	EncodingType          string `xml:",omitempty"`
	IsTruncated           bool
	Contents              []listEntry
	CommonPrefixes        []commonPrefix
}

type listV1Result struct {
	XMLName        xml.Name `xml:"ListBucketResult"`
	NS             string   `xml:"xmlns,attr"`
	Name           string
	Prefix         string
	Marker         string
	NextMarker     string `xml:",omitempty"`
	Delimiter      string `xml:",omitempty"`
	MaxKeys        int
	EncodingType   string `xml:",omitempty"`
	IsTruncated    bool
	Contents       []listEntry
	CommonPrefixes []commonPrefix
}

// encoder applies encoding-type=url to names in a listing.
func encoder(q url.Values) (func(string) string, string, error) {
	switch q.Get("encoding-type") {
	case "":
		return func(s string) string { return s }, "", nil
	case "url":
		// As AWS does: every byte but unreserved ones and '/' is %XX.
		return func(s string) string { return uriEncode(s, false) }, "url", nil
	}
	return nil, "", invalidArgument("Invalid Encoding Method specified in Request")
}

func entries(l *listing, enc func(string) string, ownerID string, fetchOwner bool) ([]listEntry, []commonPrefix) {
	var out []listEntry
	for _, o := range l.objects {
		e := listEntry{Key: enc(o.Key), LastModified: xmlTime(o.Modified), ETag: `"` + o.ETag + `"`, Size: o.Size,
			StorageClass: "STANDARD", ChecksumAlgorithm: o.ChecksumAlg}
		if fetchOwner {
			e.Owner = &owner{ID: ownerID, DisplayName: ownerID}
		}
		out = append(out, e)
	}
	var cps []commonPrefix
	for _, p := range l.prefixes {
		cps = append(cps, commonPrefix{Prefix: enc(p)})
	}
	return out, cps
}

// listParams are what every listing needs: the bucket, max-keys and encoding-type.
type listParams struct {
	b       *bucket
	max     int
	enc     func(string) string
	encName string
}

// listRequest checks a listing request and reads its parameters.
func (s *Server) listRequest(req *request, action string) (*listParams, error) {
	b, err := s.bucketFor(req, accessRead, action)
	if err != nil {
		return nil, err
	}
	lp := &listParams{b: b}
	if lp.max, err = maxKeys(req.q); err != nil {
		return nil, err
	}
	lp.enc, lp.encName, err = encoder(req.q)
	return lp, err
}

// listObjects serves ListObjectsV2 (list-type=2) and ListObjects.
func (s *Server) listObjects(req *request) error {
	if req.q.Get("list-type") == "2" {
		req.r.Pattern = "s3 ListObjectsV2"
		return s.listObjectsV2(req)
	}
	return s.listObjectsV1(req)
}

func (s *Server) listObjectsV2(req *request) error {
	lp, err := s.listRequest(req, "s3:ListBucket")
	if err != nil {
		return err
	}
	q, b, max, enc, encName := req.q, lp.b, lp.max, lp.enc, lp.encName
	marker := q.Get("start-after")
	if tok := q.Get("continuation-token"); tok != "" {
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil {
			return invalidArgument("The continuation token provided is incorrect")
		}
		marker = string(raw)
	}
	l, err := s.listKeys(req.r.Context(), b.Name, q.Get("prefix"), q.Get("delimiter"), marker, "", max, false)
	if err != nil {
		return err
	}
	res := listV2Result{NS: s3NS, Name: b.Name, Prefix: enc(q.Get("prefix")), Delimiter: enc(q.Get("delimiter")),
		StartAfter: enc(q.Get("start-after")), ContinuationToken: q.Get("continuation-token"), MaxKeys: max,
		EncodingType: encName, IsTruncated: l.truncated}
	res.Contents, res.CommonPrefixes = entries(l, enc, b.ProjectID, q.Get("fetch-owner") == "true")
	res.KeyCount = len(res.Contents) + len(res.CommonPrefixes)
	if l.truncated {
		res.NextContinuationToken = base64.RawURLEncoding.EncodeToString([]byte(l.nextMarker))
	}
	return writeXML(req.w, http.StatusOK, res)
}

func (s *Server) listObjectsV1(req *request) error {
	lp, err := s.listRequest(req, "s3:ListBucket")
	if err != nil {
		return err
	}
	q, b, max, enc, encName := req.q, lp.b, lp.max, lp.enc, lp.encName
	l, err := s.listKeys(req.r.Context(), b.Name, q.Get("prefix"), q.Get("delimiter"), q.Get("marker"), "", max, false)
	if err != nil {
		return err
	}
	res := listV1Result{NS: s3NS, Name: b.Name, Prefix: enc(q.Get("prefix")), Marker: enc(q.Get("marker")),
		Delimiter: enc(q.Get("delimiter")), MaxKeys: max, EncodingType: encName, IsTruncated: l.truncated}
	res.Contents, res.CommonPrefixes = entries(l, enc, b.ProjectID, true)
	if l.truncated && q.Get("delimiter") != "" {
		res.NextMarker = enc(l.nextMarker)
	}
	return writeXML(req.w, http.StatusOK, res)
}

type versionEntry struct {
	XMLName      xml.Name
	Key          string
	VersionID    string `xml:"VersionId"`
	IsLatest     bool
	LastModified string
	ETag         string `xml:",omitempty"`
	Size         int64  `xml:",omitempty"`
	StorageClass string `xml:",omitempty"`
	Owner        owner
}

type listVersionsResult struct {
	XMLName             xml.Name `xml:"ListVersionsResult"`
	NS                  string   `xml:"xmlns,attr"`
	Name                string
	Prefix              string
	KeyMarker           string
	VersionIDMarker     string `xml:"VersionIdMarker"`
	NextKeyMarker       string `xml:",omitempty"`
	NextVersionIDMarker string `xml:"NextVersionIdMarker,omitempty"`
	Delimiter           string `xml:",omitempty"`
	MaxKeys             int
	EncodingType        string `xml:",omitempty"`
	IsTruncated         bool
	Entries             []versionEntry
	CommonPrefixes      []commonPrefix
}

func (s *Server) listVersions(req *request) error {
	lp, err := s.listRequest(req, "s3:ListBucketVersions")
	if err != nil {
		return err
	}
	q, b, max, enc, encName := req.q, lp.b, lp.max, lp.enc, lp.encName
	l, err := s.listKeys(req.r.Context(), b.Name, q.Get("prefix"), q.Get("delimiter"), q.Get("key-marker"), q.Get("version-id-marker"), max, true)
	if err != nil {
		return err
	}
	res := listVersionsResult{NS: s3NS, Name: b.Name, Prefix: enc(q.Get("prefix")), KeyMarker: enc(q.Get("key-marker")),
		VersionIDMarker: q.Get("version-id-marker"), Delimiter: enc(q.Get("delimiter")), MaxKeys: max, EncodingType: encName,
		IsTruncated: l.truncated}
	own := owner{ID: b.ProjectID, DisplayName: b.ProjectID}
	for _, o := range l.objects {
		e := versionEntry{XMLName: xml.Name{Local: "Version"}, Key: enc(o.Key), VersionID: o.VersionID, IsLatest: o.IsLatest,
			LastModified: xmlTime(o.Modified), Owner: own}
		if o.DeleteMarker {
			e.XMLName.Local = "DeleteMarker"
		} else {
			e.ETag, e.Size, e.StorageClass = `"`+o.ETag+`"`, o.Size, "STANDARD"
		}
		res.Entries = append(res.Entries, e)
	}
	for _, p := range l.prefixes {
		res.CommonPrefixes = append(res.CommonPrefixes, commonPrefix{Prefix: enc(p)})
	}
	if l.truncated {
		res.NextKeyMarker, res.NextVersionIDMarker = enc(l.nextMarker), l.nextVersion
	}
	return writeXML(req.w, http.StatusOK, res)
}
