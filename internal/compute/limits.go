package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Limits that are fixed.
const (
	quotaKeypairs      = 100
	quotaMetadataItems = 128
)

// quotaOf returns a project's quotas: its own if an admin set them, else the defaults.
func (s *Service) quotaOf(ctx context.Context, q store.Querier, project string) (usage, error) {
	l := usage{instances: quotaInstances, cores: quotaCores, ram: quotaRAM}
	err := store.Row(q.QueryRow(ctx, `SELECT instances, cores, ram FROM compute_quotas WHERE project_id = ?`, project).Scan(&l.instances, &l.cores, &l.ram))
	if errors.Is(err, store.ErrNotFound) {
		err = nil
	}
	return l, err
}

// limits serves GET /limits: the project's quotas and what it uses of them.
func (s *Service) limits(q *request) error {
	u, err := s.projectUsage(q.r.Context(), s.db, q.creds.ProjectID)
	if err != nil {
		return err
	}
	var groups int
	if err := s.db.QueryRow(q.r.Context(), `SELECT COUNT(*) FROM server_groups WHERE project_id = ?`, q.creds.ProjectID).Scan(&groups); err != nil {
		return err
	}
	l, err := s.quotaOf(q.r.Context(), s.db, q.creds.ProjectID)
	if err != nil {
		return err
	}
	abs := map[string]any{
		"maxTotalInstances": l.instances, "maxTotalCores": l.cores, "maxTotalRAMSize": l.ram,
		"maxTotalKeypairs": quotaKeypairs, "maxServerMeta": quotaMetadataItems, "maxImageMeta": quotaMetadataItems,
		"maxServerGroups": quotaServerGroups, "maxServerGroupMembers": quotaServerGroupMembers,
		"totalInstancesUsed": u.instances, "totalCoresUsed": u.cores, "totalRAMUsed": u.ram, "totalServerGroupsUsed": groups,
	}
	if !q.atLeast(36) {
		for _, k := range []string{"maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps"} {
			abs[k] = -1
		}
		abs["totalSecurityGroupsUsed"], abs["totalFloatingIpsUsed"] = 0, 0
	}
	if !q.atLeast(57) {
		abs["maxPersonality"], abs["maxPersonalitySize"] = 0, 0
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": abs}})
	return nil
}

// quotaSet serves GET /os-quota-sets/{project_id}: the quotas of a project
// (the caller's own, or any for an admin).
func (s *Service) quotaSet(q *request) error {
	project := q.r.PathValue("project_id")
	if err := q.enforce("os_compute_api:os-quota-sets:show", project); err != nil {
		return err
	}
	return s.writeQuotaSet(q, project)
}

func (s *Service) writeQuotaSet(q *request, project string) error {
	l, err := s.quotaOf(q.r.Context(), s.db, project)
	if err != nil {
		return err
	}
	set := map[string]any{"id": project, "instances": l.instances, "cores": l.cores, "ram": l.ram,
		"key_pairs": quotaKeypairs, "metadata_items": quotaMetadataItems, "server_groups": quotaServerGroups, "server_group_members": quotaServerGroupMembers}
	if !q.atLeast(57) {
		set["injected_files"], set["injected_file_content_bytes"], set["injected_file_path_bytes"] = 0, 0, 0
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quota_set": set})
	return nil
}

// updateQuotaSet serves PUT /os-quota-sets/{project_id} for admins:
// instances, cores and ram can be set (-1 is unlimited).
func (s *Service) updateQuotaSet(q *request) error {
	if err := q.enforce("os_compute_api:os-quota-sets:update", ""); err != nil {
		return err
	}
	project := q.r.PathValue("project_id")
	var body struct {
		QuotaSet map[string]json.RawMessage `json:"quota_set"`
	}
	if err := httpapi.DecodeJSON(q.r, &body); err != nil {
		return err
	}
	ctx := q.r.Context()
	l, err := s.quotaOf(ctx, s.db, project)
	if err != nil {
		return err
	}
	for k, raw := range body.QuotaSet {
		var v int
		if k == "force" {
			continue
		}
		if err := json.Unmarshal(raw, &v); err != nil || v < -1 {
			return errorf(http.StatusBadRequest, "Invalid input for field/attribute quota_set.%s: must be an integer >= -1.", k)
		}
		switch k {
		case "instances":
			l.instances = v
		case "cores":
			l.cores = v
		case "ram":
			l.ram = v
		default:
			return errorf(http.StatusBadRequest, "Quota %s cannot be set; instances, cores and ram can.", k)
		}
	}
	if _, err := s.db.Exec(ctx, `INSERT INTO compute_quotas (project_id, instances, cores, ram) VALUES (?, ?, ?, ?)
		ON CONFLICT (project_id) DO UPDATE SET instances = excluded.instances, cores = excluded.cores, ram = excluded.ram`,
		project, l.instances, l.cores, l.ram); err != nil {
		return err
	}
	return s.writeQuotaSet(q, project)
}
