package identity

import (
	"context"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// filter collects the optional equality conditions of a list query.
type filter struct {
	where string
	args  []any
}

// eq adds "column = value" when value is not empty.
func (f *filter) eq(column, value string) {
	if value != "" {
		f.where += ` AND ` + column + ` = ?`
		f.args = append(f.args, value)
	}
}

// boolParam adds "column = value" when the query parameter is present.
func (f *filter) boolParam(r *http.Request, column, param string) {
	if v, ok := boolQuery(r, param); ok {
		f.where += ` AND ` + column + ` = ?`
		f.args = append(f.args, v)
	}
}

// writeList runs query and writes {key: [render(row) ...], "links": ...}.
// Keystone lists are not paged (Keystone has no markers), only filtered.
func (s *Service) writeList(w http.ResponseWriter, r *http.Request, key, query string, args []any,
	render func(store.Scanner) (map[string]any, error)) error {
	rows, err := s.db.Query(r.Context(), query, args...)
	if err != nil {
		return err
	}
	out, err := store.Collect(rows, render)
	if err != nil {
		return err
	}
	if out == nil {
		out = []map[string]any{}
	}
	httpapi.WriteJSON(w, http.StatusOK, map[string]any{key: out, "links": s.listLinks(r)})
	return nil
}

// stmt is one SQL statement with its arguments.
type stmt struct {
	query string
	args  []any
}

// execRevoking runs the statements and records the revocation event in one
// transaction, so that a change and the revocation of the tokens it
// invalidates commit together.
func (s *Service) execRevoking(ctx context.Context, ev revocation, stmts ...stmt) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, st := range stmts {
			if _, err := tx.Exec(ctx, st.query, st.args...); err != nil {
				return err
			}
		}
		return s.revoked.revoke(ctx, tx, ev)
	})
}
