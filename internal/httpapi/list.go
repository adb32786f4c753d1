package httpapi

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/store"
)

// Lists written once: a resource declares its filterable and sortable
// attributes (ListSpec), ParseList reads a request's filters, sort keys,
// limit and marker as OpenStack APIs spell them, Query pages in the
// database (keyset pagination on the sort keys and the id, so a page never
// skips or repeats a row while others are written) and Links writes the
// next-page link. Neutron, Cinder and Glance add their spellings here.

// Column is an attribute a list may filter or sort on.
type Column struct {
	SQL string // the column, e.g. "created_at"
	// Filter allows ?<attribute>=v (repeated: any of them); Sort allows sort_key.
	Filter, Sort bool
	// Upper compares the filter value in upper case (Nova's status).
	Upper bool
	// Bool reads the filter value as a boolean (true/false in any case, 1/0).
	Bool bool
}

// ListSpec describes the lists of one resource.
type ListSpec struct {
	Columns     map[string]Column // by API attribute name
	DefaultSort []Sort            // the id is always the last tiebreak
	MaxLimit    int               // 0: 1000
	// Ascending is the direction of a sort_key without a sort_dir
	// (Neutron's); descending otherwise (Nova's, Glance's).
	Ascending bool
}

// Sort is one sort key.
type Sort struct {
	Key  string // an attribute of the spec's Columns
	Desc bool
}

// ListQuery is a parsed list request.
type ListQuery struct {
	spec   *ListSpec
	where  []filter
	sort   []Sort
	Limit  int // 0: no limit asked (the spec's maximum applies)
	Marker string
}

type filter struct {
	col    Column
	values []any
}

// ParseBool reads true/false (any case) or 1/0, as OpenStack filters and Neutron bodies spell booleans.
func ParseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// ParseList reads filters, sort_key/sort_dir, limit and marker. Unknown
// sort keys and directions and bad limits are 400s; parameters that are
// not attributes of the spec are left to the caller.
func ParseList(r *http.Request, spec *ListSpec) (*ListQuery, error) {
	q := r.URL.Query()
	lq := &ListQuery{spec: spec, Marker: q.Get("marker")}
	for name, col := range spec.Columns {
		if vs, ok := q[name]; ok && col.Filter {
			f := filter{col: col}
			for _, v := range vs {
				if col.Bool {
					b, ok := ParseBool(v)
					if !ok {
						return nil, Errorf(http.StatusBadRequest, "Invalid value %q for %s: it must be true or false.", v, name)
					}
					f.values = append(f.values, b)
					continue
				}
				if col.Upper {
					v = strings.ToUpper(v)
				}
				f.values = append(f.values, v)
			}
			lq.where = append(lq.where, f)
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, Errorf(http.StatusBadRequest, "Invalid limit %q: it must be a non-negative integer.", v)
		}
		lq.Limit = n
	}
	keys, dirs := q["sort_key"], q["sort_dir"]
	for i, k := range keys {
		col, ok := spec.Columns[k]
		if !ok || !col.Sort {
			return nil, Errorf(http.StatusBadRequest, "Invalid sort key %q.", k)
		}
		s := Sort{Key: k, Desc: !spec.Ascending}
		if i < len(dirs) {
			switch dirs[i] {
			case "asc":
				s.Desc = false
			case "desc":
				s.Desc = true
			default:
				return nil, Errorf(http.StatusBadRequest, "Invalid sort direction %q: it must be asc or desc.", dirs[i])
			}
		}
		lq.sort = append(lq.sort, s)
	}
	if len(lq.sort) == 0 {
		lq.sort = spec.DefaultSort
	}
	return lq, nil
}

func (q *ListQuery) limit() int {
	max := q.spec.MaxLimit
	if max == 0 {
		max = 1000
	}
	if q.Limit == 0 || q.Limit > max {
		return max
	}
	return q.Limit
}

// Query runs the list on table: columns are the ones the caller scans,
// scope (with args) the condition every row must meet (the caller's
// project, say). It returns at most one row more than the page, which
// More then drops. A marker that names no row of the scope is a 400.
func (q *ListQuery) Query(ctx context.Context, db store.Querier, table, columns, scope string, args ...any) (*sql.Rows, error) {
	where, wargs := []string{scope}, append([]any(nil), args...)
	for _, f := range q.where {
		ph := make([]string, len(f.values))
		for i, v := range f.values {
			ph[i] = "?"
			wargs = append(wargs, v)
		}
		where = append(where, f.col.SQL+" IN ("+strings.Join(ph, ", ")+")")
	}
	cols := make([]string, 0, len(q.sort)+1)
	for _, s := range q.sort {
		cols = append(cols, q.spec.Columns[s.Key].SQL)
	}
	cols = append(cols, "id")
	if q.Marker != "" {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		err := store.Row(db.QueryRow(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` WHERE (`+scope+`) AND id = ?`,
			append(append([]any(nil), args...), q.Marker)...).Scan(ptrs...))
		if err == store.ErrNotFound {
			return nil, Errorf(http.StatusBadRequest, "Marker %s could not be found.", q.Marker)
		}
		if err != nil {
			return nil, err
		}
		// (c1, c2, id) after the marker's, each in its direction:
		// c1 ≷ v1 OR (c1 = v1 AND c2 ≷ v2) OR … (id always ascending last
		// but in the first key's direction, as the ORDER BY below).
		var ors []string
		for i := range cols {
			var and []string
			for j := 0; j < i; j++ {
				and = append(and, cols[j]+" = ?")
				wargs = append(wargs, vals[j])
			}
			op := ">"
			if q.desc(i) {
				op = "<"
			}
			and = append(and, cols[i]+" "+op+" ?")
			wargs = append(wargs, vals[i])
			ors = append(ors, "("+strings.Join(and, " AND ")+")")
		}
		where = append(where, "("+strings.Join(ors, " OR ")+")")
	}
	order := make([]string, len(cols))
	for i, c := range cols {
		order[i] = c + map[bool]string{true: " DESC", false: " ASC"}[q.desc(i)]
	}
	sqlQ := `SELECT ` + columns + ` FROM ` + table + ` WHERE ` + strings.Join(where, " AND ") +
		` ORDER BY ` + strings.Join(order, ", ") + ` LIMIT ` + strconv.Itoa(q.limit()+1)
	return db.Query(ctx, sqlQ, wargs...)
}

// Count is how many rows of table the list's filters and scope match,
// on every page (Cinder's with_count).
func (q *ListQuery) Count(ctx context.Context, db store.Querier, table, scope string, args ...any) (int, error) {
	where, wargs := []string{scope}, append([]any(nil), args...)
	for _, f := range q.where {
		ph := make([]string, len(f.values))
		for i, v := range f.values {
			ph[i] = "?"
			wargs = append(wargs, v)
		}
		where = append(where, f.col.SQL+" IN ("+strings.Join(ph, ", ")+")")
	}
	var n int
	err := db.QueryRow(ctx, `SELECT COUNT(*) FROM `+table+` WHERE `+strings.Join(where, " AND "), wargs...).Scan(&n)
	return n, err
}

// desc is the direction of the i-th ordering column; the id tiebreak
// follows the last sort key.
func (q *ListQuery) desc(i int) bool {
	if i < len(q.sort) {
		return q.sort[i].Desc
	}
	return len(q.sort) > 0 && q.sort[len(q.sort)-1].Desc
}

// More trims a page read with Query to the limit and reports whether
// another page follows.
func More[T any](q *ListQuery, items []T) ([]T, bool) {
	if len(items) > q.limit() {
		return items[:q.limit()], true
	}
	return items, false
}

// Links is the next-page link of a page whose last item has id lastID,
// as Nova's and Neutron's "<collection>_links" have it (baseURL is the
// listener's public URL, the path comes from the request); nil when no
// page follows.
func (q *ListQuery) Links(r *http.Request, baseURL string, more bool, lastID string) []map[string]string {
	if !more {
		return nil
	}
	v := url.Values{}
	for k, vs := range r.URL.Query() {
		if k != "marker" {
			v[k] = vs
		}
	}
	v.Set("marker", lastID)
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return []map[string]string{{"rel": "next", "href": baseURL + r.URL.Path + "?" + v.Encode()}}
}
