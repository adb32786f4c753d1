package objectstore

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type objectParts struct {
	TotalPartsCount int `xml:"PartsCount"`
}

type objectAttributes struct {
	XMLName      xml.Name        `xml:"GetObjectAttributesResponse"`
	NS           string          `xml:"xmlns,attr"`
	ETag         string          `xml:",omitempty"`
	Checksum     *checksumFields `xml:",omitempty"`
	ObjectParts  *objectParts    `xml:",omitempty"`
	StorageClass string          `xml:",omitempty"`
	ObjectSize   *int64          `xml:",omitempty"`
}

// getObjectAttributes serves GetObjectAttributes: the attributes named in
// x-amz-object-attributes, without the data. The parts of a multipart
// object are told by their count (sov keeps no per-part record once an
// upload completes).
func (s *Server) getObjectAttributes(req *request) error {
	names := map[string]bool{}
	for _, n := range strings.Split(strings.Join(req.r.Header.Values("X-Amz-Object-Attributes"), ","), ",") {
		switch n = strings.TrimSpace(n); n {
		case "":
		case "ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize":
			names[n] = true
		default:
			return invalidArgument("Invalid attribute name specified: %s", n)
		}
	}
	if len(names) == 0 {
		return invalidArgument("The x-amz-object-attributes header specifying the attributes to be retrieved is either missing or empty")
	}
	ctx := req.r.Context()
	b, err := s.getBucket(ctx, req.bucket)
	if err != nil {
		return err
	}
	o, err := s.readableObject(req, b, req.key, req.q.Get("versionId"), "s3:GetObjectAttributes")
	if err != nil {
		return err
	}
	h := req.w.Header()
	if b.Versioning != "" {
		h.Set("X-Amz-Version-Id", o.VersionID)
	}
	if o.DeleteMarker {
		h.Set("X-Amz-Delete-Marker", "true")
		return errNoSuchKey
	}
	h.Set("Last-Modified", time.UnixMicro(o.Modified).UTC().Format(http.TimeFormat))
	out := objectAttributes{NS: s3NS}
	if names["ETag"] {
		out.ETag = o.ETag
	}
	if names["Checksum"] && o.Checksum != "" {
		out.Checksum = &checksumFields{}
		out.Checksum.set(o.ChecksumAlg, o.Checksum)
	}
	if names["ObjectParts"] {
		if _, n, ok := strings.Cut(o.ETag, "-"); ok {
			if count, err := strconv.Atoi(n); err == nil {
				out.ObjectParts = &objectParts{TotalPartsCount: count}
			}
		}
	}
	if names["StorageClass"] {
		out.StorageClass = "STANDARD"
	}
	if names["ObjectSize"] {
		out.ObjectSize = &o.Size
	}
	return writeXML(req.w, http.StatusOK, out)
}
