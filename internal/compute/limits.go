package compute

import (
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
)

// Limits that are fixed (no API sets them yet).
const (
	quotaKeypairs      = 100
	quotaMetadataItems = 128
)

// limits serves GET /limits: the project's quotas and what it uses of them.
func (s *Service) limits(q *request) error {
	u, err := s.projectUsage(q.r.Context(), s.db, q.tok.ProjectID)
	if err != nil {
		return err
	}
	abs := map[string]any{
		"maxTotalInstances": quotaInstances, "maxTotalCores": quotaCores, "maxTotalRAMSize": quotaRAM,
		"maxTotalKeypairs": quotaKeypairs, "maxServerMeta": quotaMetadataItems, "maxImageMeta": quotaMetadataItems,
		"maxServerGroups": 0, "maxServerGroupMembers": 0,
		"totalInstancesUsed": u.instances, "totalCoresUsed": u.cores, "totalRAMUsed": u.ram, "totalServerGroupsUsed": 0,
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
	if project != q.tok.ProjectID && !q.admin() {
		return errorf(http.StatusForbidden, "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.")
	}
	set := map[string]any{"id": project, "instances": quotaInstances, "cores": quotaCores, "ram": quotaRAM,
		"key_pairs": quotaKeypairs, "metadata_items": quotaMetadataItems, "server_groups": 0, "server_group_members": 0}
	if !q.atLeast(57) {
		set["injected_files"], set["injected_file_content_bytes"], set["injected_file_path_bytes"] = 0, 0, 0
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"quota_set": set})
	return nil
}
