package placement

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// The Go API compute uses: its host as a resource provider, and claims of
// servers' resources against it, as Nova's scheduler and resource tracker
// make them through Placement's REST API.

// Host is a compute host as a resource provider.
type Host struct {
	UUID, Name  string
	Inventories map[string]Inventory
	Traits      []string
}

// ErrNoCapacity is the error of a claim the provider cannot take.
var ErrNoCapacity = errors.New("placement: not enough capacity")

// RegisterHost makes the host's provider, or brings its name,
// inventories and traits up to date (custom traits it names are made;
// custom traits an operator gave the provider stay). A name another
// provider has already gets the host's uuid appended.
func (s *Service) RegisterHost(ctx context.Context, h Host) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		now := time.Now().UnixMicro()
		var taken int
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM placement_providers WHERE name = ? AND uuid <> ?`, h.Name, h.UUID).Scan(&taken); err != nil {
			return err
		}
		if taken > 0 {
			h.Name += "-" + h.UUID[:8]
		}
		if _, err := s.getProvider(ctx, tx, h.UUID); httpapi.Classify(err).Status == http.StatusNotFound {
			err = store.Insert(ctx, tx, "placement_providers", store.Values{}.Set("uuid", h.UUID).Set("name", h.Name).Set("generation", 0).
				Set("parent_uuid", "").Set("root_uuid", h.UUID).Set("created_at", now).Set("updated_at", now))
			if err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE placement_providers SET name = ? WHERE uuid = ?`, h.Name, h.UUID); err != nil {
			return err
		}
		if err := bump(ctx, tx, h.UUID, -1); err != nil {
			return err
		}
		// The host's own inventories replace what was there; a class
		// still allocated stays (its capacity may be below its usage).
		invs, used, err := holdings(ctx, tx, h.UUID)
		if err != nil {
			return err
		}
		for rc := range invs {
			if _, ok := h.Inventories[rc]; !ok && used[rc] == 0 {
				delete(invs, rc)
			}
		}
		for rc, inv := range h.Inventories {
			invs[rc] = inv
		}
		if err := s.setInventories(ctx, tx, h.UUID, invs); err != nil {
			return err
		}
		for _, t := range h.Traits {
			if !slices.Contains(StandardTraits, t) {
				if _, err := tx.Exec(ctx, `INSERT INTO placement_traits (name) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM placement_traits WHERE name = ?)`, t, t); err != nil {
					return err
				}
			}
		}
		custom, err := store.Column(ctx, tx, `SELECT trait FROM placement_provider_traits WHERE provider_uuid = ? AND trait LIKE 'CUSTOM\_%' ESCAPE '\'`, h.UUID)
		if err != nil {
			return err
		}
		traits := slices.Concat(h.Traits, custom)
		slices.Sort(traits)
		return setProviderTraits(ctx, tx, h.UUID, slices.Compact(traits))
	})
}

// Claim gives consumer (of project and user) resources of provider,
// replacing what it held: ErrNoCapacity when they do not fit beside
// other consumers'; force records them even then.
func (s *Service) Claim(ctx context.Context, provider, consumer, project, user string, resources map[string]int64, force bool) error {
	w := write{Consumer: consumer, Project: project, User: user, Force: force, Allocs: map[string]allocation{}}
	for rc, n := range resources {
		if n > 0 {
			if w.Allocs[provider] == nil {
				w.Allocs[provider] = allocation{}
			}
			w.Allocs[provider][rc] = n
		}
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error { return s.replace(ctx, tx, []write{w}) })
	if p := httpapi.Classify(err); p.Status == http.StatusConflict || p.Status == http.StatusBadRequest {
		return errors.Join(ErrNoCapacity, err)
	}
	return err
}

// Release removes a consumer's allocations; one without any is fine.
func (s *Service) Release(ctx context.Context, consumer string) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error { return s.replace(ctx, tx, []write{{Consumer: consumer}}) })
}

// Consumers is the consumers holding allocations of a provider.
func (s *Service) Consumers(ctx context.Context, provider string) ([]string, error) {
	return store.Column(ctx, s.db, `SELECT DISTINCT consumer_uuid FROM placement_allocations WHERE provider_uuid = ?`, provider)
}
