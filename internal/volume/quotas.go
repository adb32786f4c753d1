package volume

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// defaultQuotas are Cinder's defaults (-1: no limit).
var defaultQuotas = map[string]int{
	"volumes": 10, "gigabytes": 1000, "snapshots": 10, "backups": 10, "backup_gigabytes": 1000,
	"per_volume_gigabytes": -1, "groups": 10,
}

// quotas are a project's limits: the defaults with what an admin set.
func (s *Service) quotas(ctx context.Context, db store.Querier, project string) (map[string]int, error) {
	out := map[string]int{}
	for k, v := range defaultQuotas {
		out[k] = v
	}
	rows, err := db.Query(ctx, `SELECT resource, hard_limit FROM volume_quotas WHERE project_id = ?`, project)
	if err != nil {
		return nil, err
	}
	type kv struct {
		k string
		v int
	}
	set, err := store.Collect(rows, func(r store.Scanner) (kv, error) { var x kv; return x, r.Scan(&x.k, &x.v) })
	if err != nil {
		return nil, err
	}
	for _, x := range set {
		out[x.k] = x.v
	}
	return out, nil
}

// usage is what a project holds: its volumes and snapshots, and their
// GiB (an extension in flight counted at its new size), as Cinder counts
// snapshots' gigabytes in the gigabytes quota.
type usage struct{ volumes, snapshots, gigabytes, backups, backupGiB int }

func (s *Service) usage(ctx context.Context, db store.Querier, project string) (usage, error) {
	var u usage
	var snapGiB int
	err := db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN new_size > size THEN new_size ELSE size END), 0) FROM volumes WHERE project_id = ?`,
		project).Scan(&u.volumes, &u.gigabytes)
	if err == nil {
		err = db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volume_snapshots WHERE project_id = ?`, project).Scan(&u.snapshots, &snapGiB)
	}
	if err == nil {
		err = db.QueryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(size), 0) FROM volume_backups WHERE project_id = ?`, project).Scan(&u.backups, &u.backupGiB)
	}
	u.gigabytes += snapGiB
	return u, err
}

// limitsOf locks the project's quota checks for the transaction (they
// run one at a time) and reads its limits and usage.
func (s *Service) limitsOf(ctx context.Context, tx *store.Tx, project string) (map[string]int, usage, error) {
	if err := tx.Lock(ctx, "volume quota "+project); err != nil {
		return nil, usage{}, err
	}
	limits, err := s.quotas(ctx, tx, project)
	if err != nil {
		return nil, usage{}, err
	}
	u, err := s.usage(ctx, tx, project)
	return limits, u, err
}

// checkQuota refuses more volumes or GiB than the project may have, and
// a volume larger than one may be (size), in the transaction that adds
// them (413, as Cinder).
func (s *Service) checkQuota(ctx context.Context, tx *store.Tx, project string, addVolumes, addGiB, size int) error {
	limits, u, err := s.limitsOf(ctx, tx, project)
	if err != nil {
		return err
	}
	if per := limits["per_volume_gigabytes"]; per >= 0 && size > per {
		return errorf(http.StatusRequestEntityTooLarge, "VolumeSizeExceedsLimit: Requested volume size %dG is larger than maximum allowed limit %dG.", size, per)
	}
	if err := gigabytesLeft(limits, u, addGiB); err != nil {
		return err
	}
	if l := limits["volumes"]; l >= 0 && u.volumes+addVolumes > l {
		return errorf(http.StatusRequestEntityTooLarge, "VolumeLimitExceeded: Maximum number of volumes allowed (%d) exceeded for quota 'volumes'.", l)
	}
	return nil
}

// checkSnapshotQuota refuses a snapshot of size GiB the project has no
// room for.
func (s *Service) checkSnapshotQuota(ctx context.Context, tx *store.Tx, project string, size int) error {
	limits, u, err := s.limitsOf(ctx, tx, project)
	if err != nil {
		return err
	}
	if err := gigabytesLeft(limits, u, size); err != nil {
		return err
	}
	if l := limits["snapshots"]; l >= 0 && u.snapshots+1 > l {
		return errorf(http.StatusRequestEntityTooLarge, "SnapshotLimitExceeded: Maximum number of snapshots allowed (%d) exceeded.", l)
	}
	return nil
}

// checkBackupQuota refuses a backup of size GiB beyond the project's
// backups and backup_gigabytes (413, as Cinder).
func (s *Service) checkBackupQuota(ctx context.Context, tx *store.Tx, project string, size int) error {
	limits, u, err := s.limitsOf(ctx, tx, project)
	if err != nil {
		return err
	}
	if l := limits["backup_gigabytes"]; l >= 0 && u.backupGiB+size > l {
		return errorf(http.StatusRequestEntityTooLarge, "VolumeBackupSizeExceedsAvailableQuota: Requested backup requires %dG of storage, quota allows %dG more.", size, max(l-u.backupGiB, 0))
	}
	if l := limits["backups"]; l >= 0 && u.backups+1 > l {
		return errorf(http.StatusRequestEntityTooLarge, "BackupLimitExceeded: Maximum number of backups allowed (%d) exceeded.", l)
	}
	return nil
}

func gigabytesLeft(limits map[string]int, u usage, add int) error {
	if l := limits["gigabytes"]; l >= 0 && u.gigabytes+add > l {
		return errorf(http.StatusRequestEntityTooLarge, "VolumeSizeExceedsAvailableQuota: Requested volume or snapshot exceeds allowed gigabytes quota. Requested %dG, quota is %dG and %dG has been consumed.", add, l, u.gigabytes)
	}
	return nil
}

// quotaSet is a quota set's body; with usage each value is
// {"limit", "in_use", "reserved", "allocated"}.
func quotaSet(project string, limits map[string]int, used map[string]int, usage bool) map[string]any {
	set := map[string]any{"id": project}
	for k, v := range limits {
		if usage {
			set[k] = map[string]int{"limit": v, "in_use": used[k], "reserved": 0, "allocated": 0}
		} else {
			set[k] = v
		}
	}
	return map[string]any{"quota_set": set}
}

func (s *Service) showQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("volume_extension:quotas:show", project); err != nil {
		return err
	}
	ctx := q.r.Context()
	limits, err := s.quotas(ctx, s.db, project)
	if err != nil {
		return err
	}
	withUsage, _ := httpapi.ParseBool(q.r.URL.Query().Get("usage"))
	u, err := s.usage(ctx, s.db, project)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, quotaSet(project, limits, map[string]int{"volumes": u.volumes, "snapshots": u.snapshots, "gigabytes": u.gigabytes,
		"backups": u.backups, "backup_gigabytes": u.backupGiB}, withUsage))
	return nil
}

func (s *Service) showDefaultQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("volume_extension:quotas:show", project); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, quotaSet(project, defaultQuotas, nil, false))
	return nil
}

func (s *Service) updateQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("volume_extension:quotas:update", project); err != nil {
		return err
	}
	var b struct {
		QuotaSet map[string]json.RawMessage `json:"quota_set"`
	}
	if err := httpapi.DecodeJSON(q.r, &b); err != nil {
		return err
	}
	if b.QuotaSet == nil {
		return errorf(http.StatusBadRequest, "Missing required element 'quota_set' in request body.")
	}
	set := map[string]int{}
	keys := make([]string, 0, len(b.QuotaSet))
	for k := range b.QuotaSet {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "id" || k == "tenant_id" || k == "skip_validation" {
			continue
		}
		if _, ok := defaultQuotas[k]; !ok {
			return errorf(http.StatusBadRequest, "Bad key(s) in quota set: %s", k)
		}
		var v int
		if err := json.Unmarshal(b.QuotaSet[k], &v); err != nil {
			var str string
			if json.Unmarshal(b.QuotaSet[k], &str) != nil {
				v = -2
			} else if v, err = strconv.Atoi(str); err != nil {
				v = -2
			}
		}
		if v < -1 {
			return errorf(http.StatusBadRequest, "Invalid input received: Quota %s must be an integer of at least -1.", k)
		}
		set[k] = v
	}
	ctx := q.r.Context()
	var limits map[string]int
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		for _, k := range keys {
			v, ok := set[k]
			if !ok {
				continue
			}
			if _, err := tx.Exec(ctx, `DELETE FROM volume_quotas WHERE project_id = ? AND resource = ?`, project, k); err != nil {
				return err
			}
			if err := store.Insert(ctx, tx, "volume_quotas", store.Values{}.Set("project_id", project).Set("resource", k).Set("hard_limit", v)); err != nil {
				return err
			}
		}
		var err error
		limits, err = s.quotas(ctx, tx, project)
		return err
	})
	if err != nil {
		return err
	}
	body := quotaSet(project, limits, nil, false)
	delete(body["quota_set"].(map[string]any), "id")
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

func (s *Service) deleteQuota(q *request) error {
	project := q.r.PathValue("project")
	if err := q.enforce("volume_extension:quotas:delete", project); err != nil {
		return err
	}
	if _, err := s.db.Exec(q.r.Context(), `DELETE FROM volume_quotas WHERE project_id = ?`, project); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusOK)
	return nil
}

// limits is Cinder's GET /limits: the caller's project's absolute limits
// and usage (no rate limits).
func (s *Service) limits(q *request) error {
	// From 3.39 an admin asks for another project's (project_id).
	project := q.creds.ProjectID
	if p := q.r.URL.Query().Get("project_id"); p != "" && q.atLeast(39) && q.admin() {
		project = p
	}
	if err := q.enforce("limits_extension:used_limits", project); err != nil {
		return err
	}
	ctx := q.r.Context()
	l, err := s.quotas(ctx, s.db, project)
	if err != nil {
		return err
	}
	u, err := s.usage(ctx, s.db, project)
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]int{
		"maxTotalVolumes": l["volumes"], "maxTotalVolumeGigabytes": l["gigabytes"], "maxTotalSnapshots": l["snapshots"],
		"maxTotalBackups": l["backups"], "maxTotalBackupGigabytes": l["backup_gigabytes"],
		"totalVolumesUsed": u.volumes, "totalGigabytesUsed": u.gigabytes, "totalSnapshotsUsed": u.snapshots, "totalBackupsUsed": u.backups, "totalBackupGigabytesUsed": u.backupGiB,
	}}})
	return nil
}
