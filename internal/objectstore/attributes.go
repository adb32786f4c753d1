package objectstore

import (
	"encoding/xml"
	"net/http"
	"strconv"
	"strings"
	"time"
)

type objectParts struct {
	TotalPartsCount      int `xml:"PartsCount"`
	PartNumberMarker     int `xml:",omitempty"`
	NextPartNumberMarker int `xml:",omitempty"`
	MaxParts             int `xml:",omitempty"`
	IsTruncated          bool
	Parts                []attributePart `xml:"Part"`
}

type attributePart struct {
	PartNumber int
	Size       int64
	checksumFields
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
// object are listed in pages (x-amz-max-parts, x-amz-part-number-marker);
// of objects completed before sov recorded parts, only their count is known.
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
	_, o, z, err := s.readVersion(req, "s3:GetObjectAttributes", errNoSuchKey)
	if err != nil {
		return err
	}
	h := req.w.Header()
	z.headers(h)
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
		if out.ObjectParts, err = attributeParts(req, o); err != nil {
			return err
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

// attributeParts is the page of an object's parts GetObjectAttributes asks
// for; nil for an object not made by a multipart upload.
func attributeParts(req *request, o *object) (*objectParts, error) {
	if o.Parts == nil {
		if _, n, ok := strings.Cut(o.ETag, "-"); ok {
			if count, err := strconv.Atoi(n); err == nil {
				return &objectParts{TotalPartsCount: count}, nil
			}
		}
		return nil, nil
	}
	max, marker := 1000, 0
	if v := req.r.Header.Get("X-Amz-Max-Parts"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, invalidArgument("Argument max-parts must be an integer between 0 and 2147483647")
		}
		max = min(n, 1000)
	}
	if v := req.r.Header.Get("X-Amz-Part-Number-Marker"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, invalidArgument("Argument part-number-marker must be an integer between 0 and 2147483647")
		}
		marker = n
	}
	out := &objectParts{TotalPartsCount: len(o.Parts), PartNumberMarker: marker, MaxParts: max}
	for _, p := range o.Parts {
		if p.Number <= marker {
			continue
		}
		if len(out.Parts) == max {
			out.IsTruncated = true
			break
		}
		ap := attributePart{PartNumber: p.Number, Size: p.Size}
		ap.set(o.ChecksumAlg, p.Checksum)
		out.Parts = append(out.Parts, ap)
		out.NextPartNumberMarker = p.Number
	}
	return out, nil
}
