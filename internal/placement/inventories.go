package placement

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"slices"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Inventory is what a provider has of one resource class. Capacity is
// (Total - Reserved) * AllocationRatio; one allocation takes MinUnit to
// MaxUnit in steps of StepSize.
type Inventory struct {
	Total           int64   `json:"total"`
	Reserved        int64   `json:"reserved"`
	MinUnit         int64   `json:"min_unit"`
	MaxUnit         int64   `json:"max_unit"`
	StepSize        int64   `json:"step_size"`
	AllocationRatio float64 `json:"allocation_ratio"`
}

// Capacity is how much of the class can be allocated.
func (i Inventory) Capacity() int64 {
	return int64(math.Floor(i.capacity()))
}

func (i Inventory) capacity() float64 { return float64(i.Total-i.Reserved) * i.AllocationRatio }

// fits reports why an amount cannot be taken from the inventory with
// used already allocated, or "" when it can.
func (i Inventory) fits(amount, used int64) string {
	switch {
	case amount < i.MinUnit || amount > i.MaxUnit || amount%i.StepSize != 0:
		return "The requested amount would violate inventory constraints."
	case float64(used+amount) > i.capacity():
		return "The requested amount would exceed the capacity."
	}
	return ""
}

// maxInt is Placement's default max_unit, and its bound of amounts.
const maxInt = math.MaxInt32

// inventoryBody is an inventory as a request spells it, unset fields nil.
type inventoryBody struct {
	ResourceClass   *string  `json:"resource_class"`
	Generation      *int     `json:"resource_provider_generation"`
	Total           *int64   `json:"total"`
	Reserved        *int64   `json:"reserved"`
	MinUnit         *int64   `json:"min_unit"`
	MaxUnit         *int64   `json:"max_unit"`
	StepSize        *int64   `json:"step_size"`
	AllocationRatio *float64 `json:"allocation_ratio"`
}

// inventory applies Placement's defaults and checks the values at
// microversion 1.minor (from 1.26 reserved may equal total).
func (b inventoryBody) inventory(rc string, minor int) (Inventory, error) {
	def := func(p *int64, v int64) int64 {
		if p == nil {
			return v
		}
		return *p
	}
	inv := Inventory{Total: def(b.Total, 0), Reserved: def(b.Reserved, 0), MinUnit: def(b.MinUnit, 1), MaxUnit: def(b.MaxUnit, maxInt),
		StepSize: def(b.StepSize, 1), AllocationRatio: 1}
	if b.AllocationRatio != nil {
		inv.AllocationRatio = *b.AllocationRatio
	}
	switch {
	case b.Total == nil:
		return inv, badRequest("JSON does not validate: 'total' is a required property of the inventory of %s", rc)
	case inv.Total < 1 || inv.Total > maxInt || inv.Reserved < 0 || inv.Reserved > maxInt || inv.MinUnit < 1 || inv.MaxUnit < 1 ||
		inv.MaxUnit > maxInt || inv.StepSize < 1 || inv.AllocationRatio < 0 || inv.AllocationRatio > 3.40282e+38:
		return inv, badRequest("JSON does not validate: the inventory of %s has a value out of range", rc)
	case minor < 26 && inv.Reserved >= inv.Total:
		return inv, badRequest("Unable to update inventory: Invalid inventory for '%s'. The reserved value is greater than or equal to total.", rc)
	case inv.Reserved > inv.Total:
		return inv, badRequest("Unable to update inventory: Invalid inventory for '%s'. The reserved value is greater than total.", rc)
	}
	return inv, nil
}

// inventories reads a provider's inventories by class.
func inventories(ctx context.Context, db store.Querier, provider string) (map[string]Inventory, error) {
	rows, err := db.Query(ctx, `SELECT resource_class, total, reserved, min_unit, max_unit, step_size, allocation_ratio FROM placement_inventories WHERE provider_uuid = ?`, provider)
	if err != nil {
		return nil, err
	}
	type pair struct {
		rc  string
		inv Inventory
	}
	list, err := store.Collect(rows, func(r store.Scanner) (pair, error) {
		var p pair
		return p, r.Scan(&p.rc, &p.inv.Total, &p.inv.Reserved, &p.inv.MinUnit, &p.inv.MaxUnit, &p.inv.StepSize, &p.inv.AllocationRatio)
	})
	out := map[string]Inventory{}
	for _, p := range list {
		out[p.rc] = p.inv
	}
	return out, err
}

// usedBy is what is allocated of each class of a provider.
func usedBy(ctx context.Context, db store.Querier, provider string) (map[string]int64, error) {
	rows, err := db.Query(ctx, `SELECT resource_class, SUM(used) FROM placement_allocations WHERE provider_uuid = ? GROUP BY resource_class`, provider)
	if err != nil {
		return nil, err
	}
	type pair struct {
		rc string
		n  int64
	}
	list, err := store.Collect(rows, func(r store.Scanner) (pair, error) { var p pair; return p, r.Scan(&p.rc, &p.n) })
	out := map[string]int64{}
	for _, p := range list {
		out[p.rc] = p.n
	}
	return out, err
}

// setInventories replaces a provider's inventories in tx: a class with
// allocations cannot go (409).
func (s *Service) setInventories(ctx context.Context, tx *store.Tx, provider string, invs map[string]Inventory) error {
	for rc := range invs {
		known, err := s.classExists(ctx, tx, rc)
		if err != nil {
			return err
		}
		if !known {
			return badRequest("Unknown resource class in inventory for resource provider %s: %s", provider, rc)
		}
	}
	used, err := usedBy(ctx, tx, provider)
	if err != nil {
		return err
	}
	for rc := range used {
		if _, ok := invs[rc]; !ok {
			return errorf(http.StatusConflict, codeInventoryInUse,
				"update conflict: Inventory for '%s' on resource provider '%s' in use.", rc, provider)
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM placement_inventories WHERE provider_uuid = ?`, provider); err != nil {
		return err
	}
	rcs := make([]string, 0, len(invs))
	for rc := range invs {
		rcs = append(rcs, rc)
	}
	slices.Sort(rcs)
	for _, rc := range rcs {
		inv := invs[rc]
		if err := store.Insert(ctx, tx, "placement_inventories", store.Values{}.Set("provider_uuid", provider).Set("resource_class", rc).
			Set("total", inv.Total).Set("reserved", inv.Reserved).Set("min_unit", inv.MinUnit).Set("max_unit", inv.MaxUnit).
			Set("step_size", inv.StepSize).Set("allocation_ratio", inv.AllocationRatio)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) writeInventories(q *request, provider string) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, provider)
	if err != nil {
		return err
	}
	invs, err := inventories(ctx, s.db, p.UUID)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"inventories": invs, "resource_provider_generation": p.Generation})
	return nil
}

func (s *Service) listInventories(q *request) error {
	return s.writeInventories(q, q.r.PathValue("uuid"))
}

// putInventories replaces every inventory of a provider at the generation
// the caller read.
func (s *Service) putInventories(q *request) error {
	var b struct {
		Generation  *int                     `json:"resource_provider_generation"`
		Inventories map[string]inventoryBody `json:"inventories"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return badRequest("JSON does not validate: %v", err)
	}
	if b.Generation == nil || b.Inventories == nil {
		return badRequest("JSON does not validate: 'resource_provider_generation' and 'inventories' are required properties")
	}
	invs := map[string]Inventory{}
	for rc, ib := range b.Inventories {
		inv, err := ib.inventory(rc, q.minor)
		if err != nil {
			return err
		}
		invs[rc] = inv
	}
	ctx := q.r.Context()
	id := q.r.PathValue("uuid")
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getProvider(ctx, tx, id); err != nil {
			return err
		}
		if err := bump(ctx, tx, id, *b.Generation); err != nil {
			return err
		}
		return s.setInventories(ctx, tx, id, invs)
	})
	if err != nil {
		return err
	}
	return s.writeInventories(q, id)
}

// changeInventory changes one class of a provider's inventories with
// change, at the generation the caller read, and writes the class's
// inventory with status.
func (s *Service) changeInventory(q *request, rc string, generation int, status int, change func(map[string]Inventory) error) error {
	ctx := q.r.Context()
	id := q.r.PathValue("uuid")
	var gen int
	var after map[string]Inventory
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if _, err := s.getProvider(ctx, tx, id); err != nil {
			return err
		}
		if err := bump(ctx, tx, id, generation); err != nil {
			return err
		}
		// The generation after this writer's bump (others may have moved it before).
		if err := tx.QueryRow(ctx, `SELECT generation FROM placement_providers WHERE uuid = ?`, id).Scan(&gen); err != nil {
			return err
		}
		var err error
		if after, err = inventories(ctx, tx, id); err != nil {
			return err
		}
		if err := change(after); err != nil {
			return err
		}
		return s.setInventories(ctx, tx, id, after)
	})
	if err != nil {
		return err
	}
	if status == http.StatusNoContent {
		q.w.WriteHeader(status)
		return nil
	}
	if status == http.StatusCreated {
		q.w.Header().Set("Location", s.link("/resource_providers/"+id+"/inventories/"+rc))
	}
	return writeInventory(q, status, gen, after[rc])
}

func writeInventory(q *request, status, generation int, inv Inventory) error {
	b, _ := json.Marshal(inv)
	var m map[string]any
	json.Unmarshal(b, &m)
	m["resource_provider_generation"] = generation
	httpapi.WriteJSON(q.w, status, m)
	return nil
}

func noInventory(rc, provider string) error {
	return errorf(http.StatusNotFound, codeUndefined, "No inventory of class %s for %s", rc, provider)
}

// readInventoryBody reads one inventory with the generation it was read at.
func (q *request) readInventoryBody(rc string) (int, Inventory, string, error) {
	var b inventoryBody
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return 0, Inventory{}, "", badRequest("JSON does not validate: %v", err)
	}
	if b.Generation == nil && rc != "" {
		return 0, Inventory{}, "", badRequest("JSON does not validate: 'resource_provider_generation' is a required property")
	}
	generation := -1 // a POST's is not checked
	if rc != "" {
		generation = *b.Generation
	}
	if rc == "" {
		if b.ResourceClass == nil {
			return 0, Inventory{}, "", badRequest("JSON does not validate: 'resource_class' is a required property")
		}
		rc = *b.ResourceClass
	}
	inv, err := b.inventory(rc, q.minor)
	return generation, inv, rc, err
}

func (s *Service) createInventory(q *request) error {
	gen, inv, rc, err := q.readInventoryBody("")
	if err != nil {
		return err
	}
	return s.changeInventory(q, rc, gen, http.StatusCreated, func(invs map[string]Inventory) error {
		if _, ok := invs[rc]; ok {
			return errorf(http.StatusConflict, codeConcurrentUpdate, "Update conflict: Inventory for %s on resource provider %s already exists.", rc, q.r.PathValue("uuid"))
		}
		invs[rc] = inv
		return nil
	})
}

func (s *Service) showInventory(q *request) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, q.r.PathValue("uuid"))
	if err != nil {
		return err
	}
	invs, err := inventories(ctx, s.db, p.UUID)
	if err != nil {
		return err
	}
	rc := q.r.PathValue("rc")
	inv, ok := invs[rc]
	if !ok {
		return noInventory(rc, p.UUID)
	}
	return writeInventory(q, http.StatusOK, p.Generation, inv)
}

func (s *Service) putInventory(q *request) error {
	rc := q.r.PathValue("rc")
	gen, inv, _, err := q.readInventoryBody(rc)
	if err != nil {
		return err
	}
	return s.changeInventory(q, rc, gen, http.StatusOK, func(invs map[string]Inventory) error {
		if _, ok := invs[rc]; !ok {
			return badRequest("No inventory record with resource class %s for resource provider %s", rc, q.r.PathValue("uuid"))
		}
		invs[rc] = inv
		return nil
	})
}

// deleteInventory removes one class's inventory; one in use is a 409 of
// Placement's concurrent_update code (as Placement answers it).
func (s *Service) deleteInventory(q *request) error {
	rc, id := q.r.PathValue("rc"), q.r.PathValue("uuid")
	err := s.changeInventory(q, rc, -1, http.StatusNoContent, func(invs map[string]Inventory) error {
		if _, ok := invs[rc]; !ok {
			return noInventory(rc, id)
		}
		delete(invs, rc)
		return nil
	})
	var ae *apiError
	if errors.As(err, &ae) && ae.code == codeInventoryInUse {
		return errorf(http.StatusConflict, codeConcurrentUpdate, "Unable to delete inventory of class %s: Inventory for '%s' on resource provider '%s' in use.", rc, rc, id)
	}
	return err
}

func (s *Service) deleteInventories(q *request) error {
	return s.changeInventory(q, "", -1, http.StatusNoContent, func(invs map[string]Inventory) error {
		clear(invs)
		return nil
	})
}

// providerUsages is what is allocated of each class a provider has.
func (s *Service) providerUsages(q *request) error {
	ctx := q.r.Context()
	p, err := s.getProvider(ctx, s.db, q.r.PathValue("uuid"))
	if err != nil {
		return err
	}
	invs, used, err := holdings(ctx, s.db, p.UUID)
	if err != nil {
		return err
	}
	usages := map[string]int64{}
	for rc := range invs {
		usages[rc] = used[rc]
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"usages": usages, "resource_provider_generation": p.Generation})
	return nil
}

// withCapacity keeps the providers that could take every amount of want.
func (s *Service) withCapacity(ctx context.Context, list []*provider, want map[string]int64) ([]*provider, error) {
	var out []*provider
	for _, p := range list {
		ok, err := s.canTake(ctx, s.db, p.UUID, want)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, p)
		}
	}
	return out, nil
}

// canTake reports whether a provider could take every amount of want.
func (s *Service) canTake(ctx context.Context, db store.Querier, provider string, want map[string]int64) (bool, error) {
	invs, used, err := holdings(ctx, db, provider)
	return err == nil && takes(invs, used, want), err
}

// takes reports whether inventories with used allocated have room for
// every amount of want.
func takes(invs map[string]Inventory, used, want map[string]int64) bool {
	for rc, n := range want {
		inv, ok := invs[rc]
		if !ok || inv.fits(n, used[rc]) != "" {
			return false
		}
	}
	return true
}

// holdings is what a provider has of each class and what is allocated of it.
func holdings(ctx context.Context, db store.Querier, provider string) (map[string]Inventory, map[string]int64, error) {
	invs, err := inventories(ctx, db, provider)
	if err != nil {
		return nil, nil, err
	}
	used, err := usedBy(ctx, db, provider)
	return invs, used, err
}
