package placement

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Allocations: what a consumer takes of each provider, replaced whole by
// each write, which checks every amount against the provider's inventory
// and what others have allocated, in the transaction that writes it (each
// provider written is taken by bump, so concurrent writes to it queue).

// allocation is what a consumer takes of one provider, by class.
type allocation map[string]int64

// consumer is a row of placement_consumers.
type consumer struct {
	Project, User string
	Generation    int
}

// consumerAllocations reads a consumer's allocations by provider; nil
// consumer when it has none.
func consumerAllocations(ctx context.Context, db store.Querier, id string) (*consumer, map[string]allocation, error) {
	var c consumer
	err := store.Row(db.QueryRow(ctx, `SELECT project_id, user_id, generation FROM placement_consumers WHERE uuid = ?`, id).Scan(&c.Project, &c.User, &c.Generation))
	if errors.Is(err, store.ErrNotFound) {
		return nil, map[string]allocation{}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	rows, err := db.Query(ctx, `SELECT provider_uuid, resource_class, used FROM placement_allocations WHERE consumer_uuid = ?`, id)
	if err != nil {
		return nil, nil, err
	}
	type row struct {
		p, rc string
		n     int64
	}
	list, err := store.Collect(rows, func(r store.Scanner) (row, error) { var x row; return x, r.Scan(&x.p, &x.rc, &x.n) })
	out := map[string]allocation{}
	for _, x := range list {
		if out[x.p] == nil {
			out[x.p] = allocation{}
		}
		out[x.p][x.rc] = x.n
	}
	return &c, out, err
}

// write is one consumer's new allocations.
type write struct {
	Consumer, Project, User string
	Allocs                  map[string]allocation
	// Generation is the consumer generation the writer read (1.28): nil
	// for a new consumer; checked only when CheckGeneration is set.
	Generation      *int
	CheckGeneration bool
	// Force writes allocations beyond capacity (compute's record of what
	// its servers hold, healed at start).
	Force bool
}

// replace writes the allocations of several consumers in tx: each one's
// replace its earlier ones, every amount fits its provider's inventory
// beside what other consumers hold; an empty set deletes the consumer.
func (s *Service) replace(ctx context.Context, tx *store.Tx, writes []write) error {
	// Take every provider involved, old and new, in one order.
	var providers []string
	olds := map[string]map[string]allocation{}
	for _, w := range writes {
		// One writer of a consumer at a time: its generation is checked
		// and moved on under this lock (PostgreSQL's; SQLite's writers
		// are serial).
		if err := tx.Lock(ctx, "placement consumer "+w.Consumer); err != nil {
			return err
		}
		c, old, err := consumerAllocations(ctx, tx, w.Consumer)
		if err != nil {
			return err
		}
		if w.CheckGeneration {
			switch {
			case c == nil && w.Generation != nil:
				return errorf(http.StatusConflict, codeConcurrentUpdate, "consumer generation conflict - expected null but got %d", *w.Generation)
			case c != nil && w.Generation == nil:
				return errorf(http.StatusConflict, codeConcurrentUpdate, "consumer generation conflict - expected %d but got None", c.Generation)
			case c != nil && *w.Generation != c.Generation:
				return errorf(http.StatusConflict, codeConcurrentUpdate, "consumer generation conflict - expected %d but got %d", c.Generation, *w.Generation)
			}
		}
		olds[w.Consumer] = old
		for p := range old {
			providers = append(providers, p)
		}
		for p := range w.Allocs {
			providers = append(providers, p)
		}
	}
	slices.Sort(providers)
	providers = slices.Compact(providers)
	for _, p := range providers {
		if err := bump(ctx, tx, p, -1); err != nil {
			if httpapi.Classify(err).Status == http.StatusConflict {
				return errorf(http.StatusBadRequest, codeUndefined, "Allocation for resource provider '%s' that does not exist.", p)
			}
			return err
		}
	}
	// The old allocations go, then the new ones must fit.
	for _, w := range writes {
		if _, err := tx.Exec(ctx, `DELETE FROM placement_allocations WHERE consumer_uuid = ?`, w.Consumer); err != nil {
			return err
		}
	}
	// Each consumer's record first (its allocations refer to it); one
	// left with none goes.
	for _, w := range writes {
		if len(w.Allocs) == 0 {
			if _, err := tx.Exec(ctx, `DELETE FROM placement_consumers WHERE uuid = ?`, w.Consumer); err != nil {
				return err
			}
			continue
		}
		res, err := tx.Exec(ctx, `UPDATE placement_consumers SET project_id = ?, user_id = ?, generation = generation + 1 WHERE uuid = ?`, w.Project, w.User, w.Consumer)
		if err = store.Affected(res, err); errors.Is(err, store.ErrNotFound) {
			err = store.Insert(ctx, tx, "placement_consumers", store.Values{}.Set("uuid", w.Consumer).Set("project_id", w.Project).
				Set("user_id", w.User).Set("generation", 0))
		}
		if err != nil {
			return err
		}
	}
	for _, w := range writes {
		for p, a := range w.Allocs {
			invs, used, err := holdings(ctx, tx, p)
			if err != nil {
				return err
			}
			for rc, n := range a {
				inv, ok := invs[rc]
				if !ok {
					return errorf(http.StatusConflict, codeUndefined, "Unable to allocate inventory: Inventory for '%s' on resource provider '%s' invalid.", rc, p)
				}
				if why := inv.fits(n, used[rc]); why != "" && !w.Force {
					return errorf(http.StatusConflict, codeUndefined, "Unable to allocate inventory: Unable to create allocation for '%s' on resource provider '%s'. %s", rc, p, why)
				}
				if err := store.Insert(ctx, tx, "placement_allocations", store.Values{}.Set("consumer_uuid", w.Consumer).Set("provider_uuid", p).
					Set("resource_class", rc).Set("used", n)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// allocationBody is one consumer's allocations as PUT and POST spell them.
type allocationBody struct {
	Allocations json.RawMessage `json:"allocations"`
	Project     *string         `json:"project_id"`
	User        *string         `json:"user_id"`
	Generation  json.RawMessage `json:"consumer_generation"`
}

// parse checks a consumer's allocations at the request's version.
func (q *request) parse(s *Service, consumerID string, b allocationBody) (write, error) {
	w := write{Consumer: consumerID, Allocs: map[string]allocation{}, CheckGeneration: q.atLeast(28)}
	if uuid.Validate(consumerID) != nil {
		return w, badRequest("Malformed consumer_uuid: %s", consumerID)
	}
	if q.atLeast(8) {
		if b.Project == nil || b.User == nil {
			return w, badRequest("JSON does not validate: 'project_id' and 'user_id' are required properties")
		}
		w.Project, w.User = *b.Project, *b.User
	} else {
		w.Project, w.User = q.creds.ProjectID, q.creds.UserID
	}
	if q.atLeast(28) {
		if b.Generation == nil {
			return w, badRequest("JSON does not validate: 'consumer_generation' is a required property")
		}
		if string(b.Generation) != "null" {
			var g int
			if err := json.Unmarshal(b.Generation, &g); err != nil {
				return w, badRequest("JSON does not validate: 'consumer_generation' is not an integer or null")
			}
			w.Generation = &g
		}
	}
	if q.atLeast(12) {
		var m map[string]struct {
			Resources map[string]int64 `json:"resources"`
		}
		if err := json.Unmarshal(b.Allocations, &m); err != nil || m == nil {
			return w, badRequest("JSON does not validate: 'allocations' is an object of resource providers")
		}
		if len(m) == 0 && !q.atLeast(28) {
			return w, badRequest("JSON does not validate: {} does not have enough properties")
		}
		for p, a := range m {
			w.Allocs[p] = a.Resources
		}
	} else {
		var list []struct {
			Provider struct {
				UUID string `json:"uuid"`
			} `json:"resource_provider"`
			Resources map[string]int64 `json:"resources"`
		}
		if err := json.Unmarshal(b.Allocations, &list); err != nil || len(list) == 0 {
			return w, badRequest("JSON does not validate: 'allocations' is a non-empty list")
		}
		for _, a := range list {
			w.Allocs[a.Provider.UUID] = a.Resources
		}
	}
	for p, a := range w.Allocs {
		if len(a) == 0 {
			return w, badRequest("JSON does not validate: the resources of %s are empty", p)
		}
		for rc, n := range a {
			if n < 1 || n > maxInt {
				return w, badRequest("JSON does not validate: %d is not a valid amount of %s", n, rc)
			}
			if known, err := s.classExists(q.r.Context(), s.db, rc); err != nil {
				return w, err
			} else if !known {
				return w, badRequest("Unable to allocate inventory for consumer %s: No such resource class %s.", consumerID, rc)
			}
		}
	}
	return w, nil
}

// putAllocations replaces one consumer's allocations.
func (s *Service) putAllocations(q *request) error {
	var b allocationBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return badRequest("JSON does not validate: %v", err)
	}
	w, err := q.parse(s, q.r.PathValue("consumer"), b)
	if err != nil {
		return err
	}
	if err := s.db.InTx(q.r.Context(), func(tx *store.Tx) error { return s.replace(q.r.Context(), tx, []write{w}) }); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// postAllocations (1.13) replaces the allocations of several consumers at once.
func (s *Service) postAllocations(q *request) error {
	var b map[string]allocationBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil || len(b) == 0 {
		return badRequest("JSON does not validate: a non-empty object of consumers is required")
	}
	var writes []write
	for id, ab := range b {
		w, err := q.parse(s, id, ab)
		if err != nil {
			return err
		}
		writes = append(writes, w)
	}
	slices.SortFunc(writes, func(a, b write) int { return strings.Compare(a.Consumer, b.Consumer) })
	if err := s.db.InTx(q.r.Context(), func(tx *store.Tx) error { return s.replace(q.r.Context(), tx, writes) }); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// showAllocations is a consumer's allocations by provider.
func (s *Service) showAllocations(q *request) error {
	ctx := q.r.Context()
	c, allocs, err := consumerAllocations(ctx, s.db, q.r.PathValue("consumer"))
	if err != nil {
		return err
	}
	out := map[string]any{}
	for p, a := range allocs {
		var gen int
		if err := s.db.QueryRow(ctx, `SELECT generation FROM placement_providers WHERE uuid = ?`, p).Scan(&gen); err != nil {
			return err
		}
		out[p] = map[string]any{"generation": gen, "resources": a}
	}
	body := map[string]any{"allocations": out}
	if c != nil && q.atLeast(12) {
		body["project_id"], body["user_id"] = c.Project, c.User
	}
	if c != nil && q.atLeast(28) {
		body["consumer_generation"] = c.Generation
	}
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// deleteAllocations removes every allocation of a consumer.
func (s *Service) deleteAllocations(q *request) error {
	ctx := q.r.Context()
	id := q.r.PathValue("consumer")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		c, _, err := consumerAllocations(ctx, tx, id)
		if err != nil {
			return err
		}
		if c == nil {
			return errorf(http.StatusNotFound, codeUndefined, "No allocations for consumer '%s'", id)
		}
		return s.replace(ctx, tx, []write{{Consumer: id}})
	})
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// providerAllocations is what each consumer has allocated of a provider.
func (s *Service) providerAllocations(q *request) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, q.r.PathValue("uuid"))
	if err != nil {
		return err
	}
	rows, err := s.db.Query(ctx, `SELECT a.consumer_uuid, a.resource_class, a.used, c.generation FROM placement_allocations a
		JOIN placement_consumers c ON c.uuid = a.consumer_uuid WHERE a.provider_uuid = ?`, p.UUID)
	if err != nil {
		return err
	}
	type row struct {
		c, rc string
		n     int64
		cg    int
	}
	list, err := store.Collect(rows, func(r store.Scanner) (row, error) { var x row; return x, r.Scan(&x.c, &x.rc, &x.n, &x.cg) })
	if err != nil {
		return err
	}
	out := map[string]map[string]any{}
	for _, x := range list {
		if out[x.c] == nil {
			out[x.c] = map[string]any{"resources": allocation{}}
			if q.atLeast(28) {
				out[x.c]["consumer_generation"] = x.cg
			}
		}
		out[x.c]["resources"].(allocation)[x.rc] = x.n
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"allocations": out, "resource_provider_generation": p.Generation})
	return nil
}

// usages (1.9) is what a project, or one of its users, has allocated.
func (s *Service) usages(q *request) error {
	query := q.r.URL.Query()
	project := query.Get("project_id")
	if project == "" {
		return errorf(http.StatusBadRequest, codeMissingValue, "Invalid query string parameters: 'project_id' is a required property")
	}
	where, args := "c.project_id = ?", []any{project}
	if u := query.Get("user_id"); u != "" {
		where, args = where+" AND c.user_id = ?", append(args, u)
	}
	rows, err := s.db.Query(q.r.Context(), `SELECT a.resource_class, SUM(a.used) FROM placement_allocations a JOIN placement_consumers c ON c.uuid = a.consumer_uuid WHERE `+where+` GROUP BY a.resource_class`, args...)
	if err != nil {
		return err
	}
	type pair struct {
		rc string
		n  int64
	}
	list, err := store.Collect(rows, func(r store.Scanner) (pair, error) { var p pair; return p, r.Scan(&p.rc, &p.n) })
	if err != nil {
		return err
	}
	out := map[string]int64{}
	for _, p := range list {
		out[p.rc] = p.n
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"usages": out})
	return nil
}
