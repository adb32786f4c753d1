package placement

import (
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// allocationCandidates (1.10) lists the providers that can each take all
// the resources asked for: one allocation request per provider, and a
// summary of each one's capacity and usage. Combinations of several
// providers (nested or sharing ones) and granular groups are beyond what
// sov's single-host trees need.
func (s *Service) allocationCandidates(q *request) error {
	ctx := q.r.Context()
	query := q.r.URL.Query()
	allowed := map[string]int{"resources": 10, "limit": 16, "required": 17, "member_of": 21}
	for param := range query {
		since, ok := allowed[param]
		if !ok || !q.atLeast(since) {
			return badRequest("Invalid query string parameters: '%s' was unexpected", param)
		}
	}
	if query.Get("resources") == "" {
		return badRequest("Invalid query string parameters: 'resources' is a required property")
	}
	want, err := s.parseResources(ctx, query.Get("resources"))
	if err != nil {
		return err
	}
	where, args := []string{"1 = 1"}, []any{}
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
	for _, v := range query["member_of"] {
		cond, a := inList("a.aggregate_uuid", strings.Split(strings.TrimPrefix(v, "in:"), ","))
		where, args = append(where, "p.uuid IN (SELECT a.provider_uuid FROM placement_provider_aggregates a WHERE "+cond+")"), append(args, a...)
	}
	rows, err := s.db.Query(ctx, `SELECT `+providerColumns+` FROM placement_providers p WHERE `+strings.Join(where, " AND ")+` ORDER BY p.created_at, p.uuid`, args...)
	if err != nil {
		return err
	}
	list, err := store.Collect(rows, scanProvider)
	if err != nil {
		return err
	}
	limit := len(list)
	if v := query.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return badRequest("Invalid query string parameters: 'limit' must be a positive integer")
		}
		limit = n
	}
	requests, summaries := []map[string]any{}, map[string]any{}
	for _, p := range list {
		if len(requests) == limit {
			break
		}
		invs, used, err := holdings(ctx, s.db, p.UUID)
		if err != nil {
			return err
		}
		if !takes(invs, used, want) {
			continue
		}
		if q.atLeast(12) {
			requests = append(requests, map[string]any{"allocations": map[string]any{p.UUID: map[string]any{"resources": want}}})
		} else {
			requests = append(requests, map[string]any{"allocations": []map[string]any{{"resource_provider": map[string]string{"uuid": p.UUID}, "resources": want}}})
		}
		resources := map[string]any{}
		for rc, inv := range invs {
			if _, asked := want[rc]; asked || q.atLeast(27) {
				resources[rc] = map[string]int64{"capacity": inv.Capacity(), "used": used[rc]}
			}
		}
		summary := map[string]any{"resources": resources}
		if q.atLeast(29) {
			summary["parent_provider_uuid"], summary["root_provider_uuid"] = nullable(p.Parent), p.Root
		}
		if q.atLeast(17) {
			traits, err := store.Column(ctx, s.db, `SELECT trait FROM placement_provider_traits WHERE provider_uuid = ? ORDER BY trait`, p.UUID)
			if err != nil {
				return err
			}
			summary["traits"] = append([]string{}, slices.Clip(traits)...)
		}
		summaries[p.UUID] = summary
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"allocation_requests": requests, "provider_summaries": summaries})
	return nil
}
