package loadbalancer

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// kind is one resource of the API: its table, columns and list spec, its
// name in bodies and errors, and how a row reads.
type kind[T any] struct {
	single, collection string // "loadbalancer", "loadbalancers"
	title              string // "Load Balancer", as Octavia's errors name it
	table, columns     string
	spec               *httpapi.ListSpec
	scan               func(store.Scanner) (T, error)
}

// columns every resource lists by.
func commonColumns(extra map[string]httpapi.Column) map[string]httpapi.Column {
	cols := map[string]httpapi.Column{
		"id": {SQL: "id", Filter: true, Sort: true}, "name": {SQL: "name", Filter: true, Sort: true},
		"project_id": {SQL: "project_id", Filter: true, Sort: true}, "tenant_id": {SQL: "project_id", Filter: true},
		"admin_state_up":      {SQL: "admin_state_up", Filter: true, Bool: true},
		"provisioning_status": {SQL: "provisioning_status", Filter: true, Sort: true, Upper: true},
		"operating_status":    {SQL: "operating_status", Filter: true, Sort: true, Upper: true},
		"created_at":          {SQL: "created_at", Sort: true}, "updated_at": {SQL: "updated_at", Sort: true},
	}
	for k, v := range extra {
		cols[k] = v
	}
	return cols
}

// get reads the row id the caller may see (another project's is not found).
func (k *kind[T]) get(ctx context.Context, db store.Querier, q *request, id string) (T, error) {
	scope, args := q.scope()
	v, err := k.scan(db.QueryRow(ctx, `SELECT `+k.columns+` FROM `+k.table+` WHERE (`+scope+`) AND id = ?`, append(args, id)...))
	if err = store.Row(err); errors.Is(err, store.ErrNotFound) {
		return v, notFound(k.title, id)
	}
	return v, err
}

// list writes a page of the rows the caller sees (and that where, with
// args, selects), each as view writes it.
func (k *kind[T]) list(q *request, where string, args []any, view func([]T) ([]map[string]any, error)) error {
	lq, err := httpapi.ParseList(q.r, k.spec)
	if err != nil {
		return err
	}
	if tags := q.r.URL.Query()["tags"]; len(tags) > 0 {
		for _, t := range tags {
			for _, tag := range strings.Split(t, ",") {
				where += " AND tags LIKE ?"
				args = append(args, "%"+jsonText(tag)+"%")
			}
		}
	}
	scope, sargs := q.scope()
	rows, err := lq.Query(q.ctx(), q.db, k.table, k.columns, "("+scope+") AND "+where, append(sargs, args...)...)
	if err != nil {
		return err
	}
	items, err := store.Collect(rows, k.scan)
	if err != nil {
		return err
	}
	items, more := httpapi.More(lq, items)
	views, err := view(items)
	if err != nil {
		return err
	}
	last := ""
	if len(views) > 0 {
		last, _ = views[len(views)-1]["id"].(string)
	}
	links := lq.Links(q.r, q.base, more, last)
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{k.collection: orEmpty(views), k.collection + "_links": orEmpty(links)})
	return nil
}
