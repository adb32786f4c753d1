package network

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Tags of any network resource, as Neutron's standard-attr-tag has them.

// Limits of tags, as Neutron's.
const (
	maxTagLength = 255
	maxTags      = 50 // per resource
)

func checkTags(tags []string) error {
	if len(tags) > maxTags {
		return badRequest("Number of tags exceeds the limit %d.", maxTags)
	}
	for _, t := range tags {
		if t == "" || len(t) > maxTagLength || strings.Contains(t, ",") {
			return invalid("tags", "'%s' is not a valid tag", t)
		}
	}
	return nil
}

// readTags reads the tags a create sets.
func readTags(a attrs) ([]string, error) {
	var tags []string
	if err := a.decode("tags", &tags); err != nil {
		return nil, err
	}
	return tags, checkTags(tags)
}

// setTags replaces the tags of a resource.
func setTags(ctx context.Context, tx *store.Tx, id string, tags []string) error {
	if _, err := tx.Exec(ctx, `DELETE FROM network_tags WHERE resource_id = ?`, id); err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, t := range tags {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := tx.Exec(ctx, `INSERT INTO network_tags (resource_id, tag) VALUES (?, ?)`, id, t); err != nil {
			return err
		}
	}
	return nil
}

// tagsOf returns the tags of each of ids, sorted.
func (s *Service) tagsOf(ctx context.Context, db store.Querier, ids []string) (map[string][]string, error) {
	out, err := s.childIDs(ctx, db, `SELECT resource_id, tag FROM network_tags WHERE resource_id IN `, ids)
	for _, t := range out {
		sort.Strings(t)
	}
	return out, err
}

// childIDs runs query (ending in "IN ") over ids and groups the second
// column of its rows by the first.
func (s *Service) childIDs(ctx context.Context, db store.Querier, query string, ids []string) (map[string][]string, error) {
	rows, err := s.childRows(ctx, db, query, ids)
	out := map[string][]string{}
	for _, r := range rows {
		out[r[0]] = append(out[r[0]], r[1])
	}
	return out, err
}

// childRows runs query (ending in "IN ") over ids; each row's columns are strings.
func (s *Service) childRows(ctx context.Context, db store.Querier, query string, ids []string) ([][]string, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ph, args := placeholders(ids)
	rows, err := db.Query(ctx, query+ph, args...)
	if err != nil {
		return nil, err
	}
	cols, err := rows.Columns()
	if err != nil {
		rows.Close()
		return nil, err
	}
	return store.Collect(rows, func(r store.Scanner) ([]string, error) {
		vals := make([]string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		return vals, r.Scan(ptrs...)
	})
}

// placeholders is "(?, ?, …)" for ids, and ids as arguments.
func placeholders(ids []string) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")", args
}

func unmarshalText(s string, v any) { json.Unmarshal([]byte(s), v) }

// taggedResource finds the resource a tag request names, among those the
// caller sees, and its project.
func (s *Service) taggedResource(q *request, tx *store.Tx) (id, project string, err error) {
	ctx := q.r.Context()
	id = q.r.PathValue("id")
	switch q.r.PathValue("collection") {
	case "networks":
		n, err := s.visibleNetwork(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = n.Project
	case "subnets":
		sn, err := s.visibleSubnet(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = sn.Project
	case "ports":
		p, err := s.visiblePort(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = p.Project
	case "security-groups":
		g, err := s.visibleGroup(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = g.Project
	case "routers":
		r, err := s.visibleRouter(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = r.Project
	case "floatingips":
		f, err := s.visibleFloating(ctx, tx, q, id)
		if err != nil {
			return "", "", err
		}
		project = f.Project
	default:
		return "", "", fail(http.StatusNotFound, "HTTPNotFound", "The resource could not be found.")
	}
	return id, project, nil
}

// tags serves the tag API: GET/PUT/DELETE /v2.0/{collection}/{id}/tags[/{tag}].
func (s *Service) tags(q *request) error {
	ctx := q.r.Context()
	tag := q.r.PathValue("tag")
	var out []string
	status := http.StatusOK
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		id, project, err := s.taggedResource(q, tx)
		if err != nil {
			return err
		}
		current, err := s.tagsOf(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		out = current[id]
		if q.r.Method != http.MethodGet {
			if err := q.enforce("update_tags", project); err != nil {
				return err
			}
		}
		switch {
		case q.r.Method == http.MethodGet && tag == "":
		case q.r.Method == http.MethodGet:
			status = http.StatusNoContent
			if !slices.Contains(out, tag) {
				return fail(http.StatusNotFound, "TagNotFound", "Tag %s could not be found.", tag)
			}
		case q.r.Method == http.MethodPut && tag == "":
			var body struct {
				Tags []string `json:"tags"`
			}
			if err := httpapi.DecodeJSON(q.r, &body); err != nil {
				return badRequest("%s", err.Error())
			}
			if err := checkTags(body.Tags); err != nil {
				return err
			}
			out = body.Tags
			return setTags(ctx, tx, id, out)
		case q.r.Method == http.MethodPut:
			status = http.StatusCreated
			if err := checkTags([]string{tag}); err != nil {
				return err
			}
			if !slices.Contains(out, tag) {
				out = append(out, tag)
			}
			if err := checkTags(out); err != nil {
				return err
			}
			return setTags(ctx, tx, id, out)
		case tag == "":
			status, out = http.StatusNoContent, nil
			return setTags(ctx, tx, id, nil)
		default:
			status = http.StatusNoContent
			if !slices.Contains(out, tag) {
				return fail(http.StatusNotFound, "TagNotFound", "Tag %s could not be found.", tag)
			}
			var keep []string
			for _, t := range out {
				if t != tag {
					keep = append(keep, t)
				}
			}
			return setTags(ctx, tx, id, keep)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if status == http.StatusNoContent || status == http.StatusCreated && tag != "" {
		q.w.WriteHeader(status)
		return nil
	}
	httpapi.WriteJSON(q.w, status, map[string]any{"tags": orEmpty(out)})
	return nil
}
