package network

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// listing is one resource's lists: its collection name, table, columns
// and the filters its handler reads itself.
type listing struct {
	collection string // e.g. "networks"
	table      string
	columns    string // what scan reads
	spec       *httpapi.ListSpec
	// extra are query parameters the handler turns into conditions.
	extra []string
}

// common are the parameters of every list that are not attribute filters.
var common = []string{"fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse", "tags", "tags-any", "not-tags", "not-tags-any"}

// parse reads a list request: Neutron refuses filters on attributes it
// does not know (filter-validation) and pages only forwards.
func (l *listing) parse(r *http.Request) (*httpapi.ListQuery, error) {
	for k, vs := range r.URL.Query() {
		_, col := l.spec.Columns[k]
		if !col && !slices.Contains(common, k) && !slices.Contains(l.extra, k) {
			return nil, badRequest("[%s] is invalid attribute for filtering", k)
		}
		if k == "page_reverse" && (len(vs) != 1 || strings.ToLower(vs[0]) != "false") {
			return nil, fail(http.StatusBadRequest, "BadRequest", "page_reverse=%s is not supported.", vs[0])
		}
	}
	lq, err := httpapi.ParseList(r, l.spec)
	if err != nil {
		return nil, badRequest("%s", err.Error())
	}
	return lq, nil
}

// tagScope is the condition of the request's tag filters (tags: all of
// them, tags-any: one of them, not-tags: not all, not-tags-any: none).
func tagScope(r *http.Request) (string, []any) {
	var conds []string
	var args []any
	in := func(tags []string) string {
		for _, t := range tags {
			args = append(args, t)
		}
		return "SELECT resource_id FROM network_tags WHERE tag IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(tags)), ", ") + ")"
	}
	q := r.URL.Query()
	split := func(k string) []string {
		var out []string
		for _, v := range q[k] {
			for _, t := range strings.Split(v, ",") {
				if t != "" {
					out = append(out, t)
				}
			}
		}
		return out
	}
	if tags := split("tags"); len(tags) > 0 {
		for _, t := range tags {
			conds = append(conds, "id IN ("+in([]string{t})+")")
		}
	}
	if tags := split("tags-any"); len(tags) > 0 {
		conds = append(conds, "id IN ("+in(tags)+")")
	}
	if tags := split("not-tags"); len(tags) > 0 {
		var all []string
		for _, t := range tags {
			all = append(all, "id IN ("+in([]string{t})+")")
		}
		conds = append(conds, "NOT ("+strings.Join(all, " AND ")+")")
	}
	if tags := split("not-tags-any"); len(tags) > 0 {
		conds = append(conds, "id NOT IN ("+in(tags)+")")
	}
	if len(conds) == 0 {
		return "1 = 1", nil
	}
	return strings.Join(conds, " AND "), args
}

// list answers one page of a collection: rows of the table that meet
// scope and the request's filters, each written by view.
func list[T any](s *Service, q *request, l *listing, scope string, args []any,
	scan func(store.Scanner) (T, error), id func(T) string, view func(context.Context, []T) ([]map[string]any, error)) error {
	lq, err := l.parse(q.r)
	if err != nil {
		return err
	}
	tags, targs := tagScope(q.r)
	rows, err := lq.Query(q.r.Context(), s.db, l.table, l.columns, "("+scope+") AND "+tags, append(append([]any(nil), args...), targs...)...)
	if err != nil {
		return err
	}
	items, err := store.Collect(rows, scan)
	if err != nil {
		return err
	}
	items, more := httpapi.More(lq, items)
	views, err := view(q.r.Context(), items)
	if err != nil {
		return err
	}
	out := make([]map[string]any, len(views))
	for i, v := range views {
		out[i] = q.fields(v)
	}
	body := map[string]any{l.collection: out}
	if len(items) > 0 {
		if links := lq.Links(q.r, s.publicURL, more, id(items[len(items)-1])); links != nil {
			body[l.collection+"_links"] = links
		}
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// lookup reads the row id of a listing's table if it meets scope; missing
// is the answer when it does not (or is not there: the two look the same).
func lookup[T any](ctx context.Context, db store.Querier, l *listing, scope string, args []any, id string,
	scan func(store.Scanner) (T, error), missing error) (T, error) {
	v, err := scan(db.QueryRow(ctx, `SELECT `+l.columns+` FROM `+l.table+` WHERE id = ? AND (`+scope+`)`, append([]any{id}, args...)...))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		var zero T
		return zero, missing
	}
	return v, store.Row(err)
}
