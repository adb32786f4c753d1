package placement

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// provider is a row of placement_providers.
type provider struct {
	UUID, Name, Parent, Root string
	Generation               int
}

const providerColumns = `uuid, name, generation, parent_uuid, root_uuid`

func scanProvider(row store.Scanner) (*provider, error) {
	var p provider
	return &p, row.Scan(&p.UUID, &p.Name, &p.Generation, &p.Parent, &p.Root)
}

func (s *Service) link(path string) string { return "/placement" + path }

func (s *Service) providerView(q *request, p *provider) map[string]any {
	base := "/resource_providers/" + p.UUID
	links := []map[string]string{{"rel": "self", "href": s.link(base)}, {"rel": "inventories", "href": s.link(base + "/inventories")},
		{"rel": "usages", "href": s.link(base + "/usages")}}
	if q.atLeast(1) {
		links = append(links, map[string]string{"rel": "aggregates", "href": s.link(base + "/aggregates")})
	}
	if q.atLeast(6) {
		links = append(links, map[string]string{"rel": "traits", "href": s.link(base + "/traits")})
	}
	if q.atLeast(11) {
		links = append(links, map[string]string{"rel": "allocations", "href": s.link(base + "/allocations")})
	}
	m := map[string]any{"uuid": p.UUID, "name": p.Name, "generation": p.Generation, "links": links}
	if q.atLeast(14) {
		m["parent_provider_uuid"], m["root_provider_uuid"] = nullable(p.Parent), p.Root
	}
	return m
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// getProvider reads a provider by uuid.
func (s *Service) getProvider(ctx context.Context, db store.Querier, id string) (*provider, error) {
	p, err := scanProvider(db.QueryRow(ctx, `SELECT `+providerColumns+` FROM placement_providers WHERE uuid = ?`, id))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, codeUndefined, "No resource provider with uuid %s found", id)
	}
	return p, store.Row(err)
}

// bump takes a provider for a write at the generation the writer read
// (-1: any), and moves it on, in the caller's transaction; a writer that
// read an older generation gets 409.
func bump(ctx context.Context, tx *store.Tx, id string, generation int) error {
	return bumpOr(ctx, tx, id, generation, "resource provider generation conflict")
}

// bumpOr is bump with the message of its 409.
func bumpOr(ctx context.Context, tx *store.Tx, id string, generation int, conflict string) error {
	res, err := tx.Exec(ctx, `UPDATE placement_providers SET generation = generation + 1, updated_at = ? WHERE uuid = ? AND (generation = ? OR ? = -1)`,
		time.Now().UnixMicro(), id, generation, generation)
	if err = store.Affected(res, err); errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusConflict, codeConcurrentUpdate, "%s", conflict)
	}
	return err
}

// changedSince is the 409 of a stale write of traits or aggregates.
const changedSince = "Resource provider's generation already changed. Please update the generation and try again."

type providerBody struct {
	Name   *string `json:"name"`
	UUID   *string `json:"uuid"`
	Parent *string `json:"parent_provider_uuid"`
}

func (q *request) providerBody(create bool) (providerBody, error) {
	var b providerBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return b, badRequest("JSON does not validate: %v", err)
	}
	if b.Name == nil || *b.Name == "" || len(*b.Name) > 200 {
		return b, badRequest("JSON does not validate: 'name' is a required string of 1 to 200 characters")
	}
	if b.UUID != nil && (!create || uuid.Validate(*b.UUID) != nil) {
		return b, badRequest("JSON does not validate: 'uuid' is not a 'uuid'")
	}
	if b.Parent != nil && (!q.atLeast(14) || uuid.Validate(*b.Parent) != nil) {
		return b, badRequest("JSON does not validate: 'parent_provider_uuid' is not a 'uuid' of this version")
	}
	return b, nil
}

// nameConflict is the error of a name another provider has.
func nameConflict(err error, name string) error {
	if errors.Is(err, store.ErrConflict) {
		return errorf(http.StatusConflict, codeDuplicateName, "Conflicting resource provider name: %s already exists.", name)
	}
	return err
}

func (s *Service) createProvider(q *request) error {
	b, err := q.providerBody(true)
	if err != nil {
		return err
	}
	p := &provider{UUID: uuid.NewString(), Name: *b.Name}
	if b.UUID != nil {
		p.UUID = strings.ToLower(*b.UUID)
	}
	ctx := q.r.Context()
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		p.Root = p.UUID
		if b.Parent != nil {
			if err := tx.Lock(ctx, "placement provider "+*b.Parent); err != nil { // against its delete meanwhile
				return err
			}
			parent, err := s.getProvider(ctx, tx, *b.Parent)
			if err != nil {
				return badRequest("parent provider UUID %s does not exist.", *b.Parent)
			}
			p.Parent, p.Root = parent.UUID, parent.Root
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM placement_providers WHERE uuid = ?`, p.UUID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(http.StatusConflict, codeDuplicateName, "Conflicting resource provider uuid: %s already exists.", p.UUID)
		}
		now := time.Now().UnixMicro()
		return nameConflict(store.Insert(ctx, tx, "placement_providers", store.Values{}.Set("uuid", p.UUID).Set("name", p.Name).
			Set("generation", 0).Set("parent_uuid", p.Parent).Set("root_uuid", p.Root).Set("created_at", now).Set("updated_at", now)), p.Name)
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.link("/resource_providers/"+p.UUID))
	if q.atLeast(20) {
		httpapi.WriteJSON(q.w, http.StatusOK, s.providerView(q, p))
		return nil
	}
	q.w.WriteHeader(http.StatusCreated)
	return nil
}

func (s *Service) showProvider(q *request) error {
	p, err := s.getProvider(q.r.Context(), s.db, q.r.PathValue("uuid"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.providerView(q, p))
	return nil
}

// updateProvider renames a provider, or gives a root provider a parent
// (re-parenting one that has a parent is refused, as before 1.37).
func (s *Service) updateProvider(q *request) error {
	b, err := q.providerBody(false)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	var p *provider
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		if p, err = s.getProvider(ctx, tx, q.r.PathValue("uuid")); err != nil {
			return err
		}
		if b.Parent != nil && *b.Parent != p.Parent {
			if p.Parent != "" {
				return badRequest("re-parenting a provider is not currently allowed.")
			}
			parent, err := s.getProvider(ctx, tx, *b.Parent)
			if err != nil {
				return badRequest("parent provider UUID %s does not exist.", *b.Parent)
			}
			if parent.Root == p.Root {
				return badRequest("creating loop in the provider tree is not allowed.")
			}
			// The provider's tree moves under the parent's root.
			if _, err := tx.Exec(ctx, `UPDATE placement_providers SET root_uuid = ? WHERE root_uuid = ?`, parent.Root, p.Root); err != nil {
				return err
			}
			p.Parent, p.Root = parent.UUID, parent.Root
		}
		p.Name = *b.Name
		if _, err := tx.Exec(ctx, `UPDATE placement_providers SET name = ?, parent_uuid = ? WHERE uuid = ?`, p.Name, p.Parent, p.UUID); err != nil {
			return nameConflict(err, p.Name)
		}
		if err := bump(ctx, tx, p.UUID, -1); err != nil {
			return err
		}
		p.Generation++
		return nil
	})
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.providerView(q, p))
	return nil
}

// deleteProvider deletes a provider without allocations or children.
func (s *Service) deleteProvider(q *request) error {
	ctx := q.r.Context()
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := tx.Lock(ctx, "placement provider "+q.r.PathValue("uuid")); err != nil { // against a child made meanwhile
			return err
		}
		p, err := s.getProvider(ctx, tx, q.r.PathValue("uuid"))
		if httpapi.Classify(err).Status == http.StatusNotFound {
			return errorf(http.StatusNotFound, codeUndefined, "No resource provider with uuid %s found for delete", q.r.PathValue("uuid"))
		}
		if err != nil {
			return err
		}
		var allocs, children int
		if err := tx.QueryRow(ctx, `SELECT (SELECT COUNT(*) FROM placement_allocations WHERE provider_uuid = ?), (SELECT COUNT(*) FROM placement_providers WHERE parent_uuid = ?)`,
			p.UUID, p.UUID).Scan(&allocs, &children); err != nil {
			return err
		}
		if allocs > 0 {
			return errorf(http.StatusConflict, "placement.resource_provider.inuse", "Unable to delete resource provider %s: Resource provider has allocations.", p.UUID)
		}
		if children > 0 {
			return errorf(http.StatusConflict, "placement.resource_provider.cannot_delete_parent", "Unable to delete parent resource provider %s: It has child resource providers.", p.UUID)
		}
		return store.Affected(tx.Exec(ctx, `DELETE FROM placement_providers WHERE uuid = ?`, p.UUID))
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// listProviders lists providers with Placement's filters.
func (s *Service) listProviders(q *request) error {
	ctx := q.r.Context()
	query := q.r.URL.Query()
	where, args := []string{"1 = 1"}, []any{}
	for param, since := range map[string]int{"name": 0, "uuid": 0, "member_of": 3, "resources": 4, "in_tree": 14, "required": 18} {
		if _, ok := query[param]; ok && !q.atLeast(since) {
			return badRequest("Invalid query string parameters: '%s' was unexpected", param)
		}
	}
	for param := range query {
		if !slices.Contains([]string{"name", "uuid", "member_of", "resources", "in_tree", "required"}, param) {
			return badRequest("Invalid query string parameters: '%s' was unexpected", param)
		}
	}
	if v := query.Get("name"); v != "" {
		where, args = append(where, "p.name = ?"), append(args, v)
	}
	if v := query.Get("uuid"); v != "" {
		where, args = append(where, "p.uuid = ?"), append(args, v)
	}
	if v := query.Get("in_tree"); v != "" {
		where, args = append(where, "p.root_uuid = (SELECT root_uuid FROM placement_providers WHERE uuid = ?)"), append(args, v)
	}
	for _, v := range query["member_of"] {
		aggs := strings.Split(strings.TrimPrefix(v, "in:"), ",")
		cond, a := inList("a.aggregate_uuid", aggs)
		where, args = append(where, "p.uuid IN (SELECT a.provider_uuid FROM placement_provider_aggregates a WHERE "+cond+")"), append(args, a...)
	}
	if v := query.Get("required"); v != "" {
		required, forbidden, err := s.traitFilter(q, v)
		if err != nil {
			return err
		}
		for _, t := range required {
			where, args = append(where, "p.uuid IN (SELECT provider_uuid FROM placement_provider_traits WHERE trait = ?)"), append(args, t)
		}
		for _, t := range forbidden {
			where, args = append(where, "p.uuid NOT IN (SELECT provider_uuid FROM placement_provider_traits WHERE trait = ?)"), append(args, t)
		}
	}
	rows, err := s.db.Query(ctx, `SELECT p.uuid, p.name, p.generation, p.parent_uuid, p.root_uuid FROM placement_providers p WHERE `+strings.Join(where, " AND ")+` ORDER BY p.created_at, p.uuid`, args...)
	if err != nil {
		return err
	}
	list, err := store.Collect(rows, scanProvider)
	if err != nil {
		return err
	}
	if v := query.Get("resources"); v != "" {
		want, err := s.parseResources(ctx, v)
		if err != nil {
			return err
		}
		list, err = s.withCapacity(ctx, list, want)
		if err != nil {
			return err
		}
	}
	out := []map[string]any{}
	for _, p := range list {
		out = append(out, s.providerView(q, p))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"resource_providers": out})
	return nil
}

// inList is "col IN (?, ...)" for values.
func inList(col string, values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return col + " IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ") + ")", args
}

// parseResources reads "VCPU:1,MEMORY_MB:512" into amounts by class.
func (s *Service) parseResources(ctx context.Context, v string) (map[string]int64, error) {
	want := map[string]int64{}
	for _, part := range strings.Split(v, ",") {
		rc, amount, ok := strings.Cut(part, ":")
		n, err := strconv.ParseInt(amount, 10, 64)
		if !ok || err != nil || n < 1 {
			return nil, errorf(http.StatusBadRequest, codeBadValue, "Badly formed resources parameter. Expected resources query string parameter in form: ?resources=VCPU:2,MEMORY_MB:1024. Got: %s.", v)
		}
		if known, err := s.classExists(ctx, s.db, rc); err != nil {
			return nil, err
		} else if !known {
			return nil, badRequest("Invalid resource class in resources parameter: No such resource class %s.", rc)
		}
		want[rc] = n
	}
	return want, nil
}
