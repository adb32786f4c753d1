package objectstore

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// LifecycleStats counts what a lifecycle pass did.
type LifecycleStats struct {
	Expired, NoncurrentExpired, MarkersRemoved, UploadsAborted int
}

// lifecycleBudget bounds the actions of one pass on one bucket; the next
// pass goes on from there. Every action is a transaction of its own and
// rules only ever pick what is due, so a pass cut by a crash is simply
// finished by the next one.
const lifecycleBudget = 1000

func (s *Server) lifecycleRules(ctx context.Context, bucket string) ([]lifecycleRule, error) {
	var enc string
	if err := s.db.QueryRow(ctx, `SELECT lifecycle FROM buckets WHERE name = ?`, bucket).Scan(&enc); err != nil {
		return nil, err
	}
	var rules []lifecycleRule
	if enc != "" {
		if err := json.Unmarshal([]byte(enc), &rules); err != nil {
			return nil, err
		}
	}
	return rules, nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

// RunLifecycle applies the lifecycle rules of every bucket as of now, and
// forgets completed multipart uploads too old to be completed again.
func (s *Server) RunLifecycle(ctx context.Context, now time.Time) (LifecycleStats, error) {
	var st LifecycleStats
	if _, err := s.db.Exec(ctx, `DELETE FROM completed_uploads WHERE completed_at < ?`, now.Add(-completedUploadMemory).UnixMicro()); err != nil {
		return st, err
	}
	rows, err := s.db.Query(ctx, `SELECT name FROM buckets WHERE lifecycle <> '' ORDER BY name`)
	if err != nil {
		return st, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return st, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return st, err
	}
	for _, name := range names {
		if err := s.lifecycleBucket(ctx, name, now, &st); err != nil && !errors.Is(err, errNoSuchBucket) {
			return st, err
		}
	}
	return st, nil
}

func (s *Server) lifecycleBucket(ctx context.Context, name string, now time.Time, st *LifecycleStats) error {
	b, err := s.getBucket(ctx, name)
	if err != nil {
		return err
	}
	all, err := s.lifecycleRules(ctx, name)
	if err != nil {
		return err
	}
	var rules []lifecycleRule
	for _, r := range all {
		if r.Status == "Enabled" {
			rules = append(rules, r)
		}
	}
	budget := lifecycleBudget
	if err := s.expireUploads(ctx, b, rules, now, st, &budget); err != nil {
		return err
	}
	// Versions key by key, newest first.
	cursorKey, cursorSeq := "", int64(1<<62)
	for budget > 0 {
		rows, err := s.db.Query(ctx, `SELECT `+objectColumns+` FROM objects WHERE bucket = ? AND (key > ? OR (key = ? AND seq < ?))
			ORDER BY key, seq DESC LIMIT 1000`, name, cursorKey, cursorKey, cursorSeq)
		if err != nil {
			return err
		}
		var batch []*object
		for rows.Next() {
			o, err := scanObject(rows)
			if err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, o)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(batch) == 0 {
			return nil
		}
		// Finish the last key of a full batch in the next query, whole.
		if len(batch) == 1000 {
			last := batch[len(batch)-1].Key
			i := len(batch)
			for i > 0 && batch[i-1].Key == last {
				i--
			}
			if i > 0 {
				batch = batch[:i]
			}
		}
		for i := 0; i < len(batch) && budget > 0; {
			j := i
			for j < len(batch) && batch[j].Key == batch[i].Key {
				j++
			}
			if err := s.lifecycleKey(ctx, b, rules, batch[i:j], now, st, &budget); err != nil {
				return err
			}
			i = j
		}
		last := batch[len(batch)-1]
		cursorKey, cursorSeq = last.Key, last.Seq
	}
	return nil
}

// lifecycleKey applies the rules to the versions of one key, newest first.
func (s *Server) lifecycleKey(ctx context.Context, b *bucket, rules []lifecycleRule, versions []*object, now time.Time, st *LifecycleStats, budget *int) error {
	current := versions[0]
	act := func(versionID string, count *int) error {
		if *budget <= 0 {
			return nil
		}
		*budget--
		_, err := s.removeObject(ctx, b, current.Key, versionID, "", false)
		if errors.Is(err, errLocked) || errors.Is(err, errPreconditionFailed) {
			return nil // a locked version waits
		}
		if err == nil {
			*count++
		}
		return err
	}
	for _, r := range rules {
		e := r.Expiration
		if e == nil || !current.IsLatest {
			continue
		}
		if current.DeleteMarker {
			if e.ExpiredObjectDeleteMarker && len(versions) == 1 && r.matches(current.Key, 0, "") {
				return act(current.VersionID, &st.MarkersRemoved)
			}
			continue
		}
		due := (e.Days > 0 && !time.UnixMicro(current.Modified).Add(days(e.Days)).After(now))
		if e.Date != "" {
			if t, err := time.Parse(time.RFC3339, e.Date); err == nil && !t.After(now) {
				due = true
			}
		}
		if due && r.matches(current.Key, current.Size, current.Tags) {
			versionID := ""
			if b.Versioning == "" {
				versionID = "null"
			}
			if err := act(versionID, &st.Expired); err != nil {
				return err
			}
			break
		}
	}
	// Noncurrent versions: each became noncurrent when the next newer one was made.
	for _, r := range rules {
		n := r.NoncurrentVersionExpiration
		if n == nil {
			continue
		}
		kept := 0
		for i := 1; i < len(versions); i++ {
			v := versions[i]
			if !r.matches(v.Key, v.Size, v.Tags) {
				continue
			}
			if kept < n.NewerNoncurrentVersions {
				kept++
				continue
			}
			if time.UnixMicro(versions[i-1].Modified).Add(days(n.NoncurrentDays)).After(now) {
				continue
			}
			if err := act(v.VersionID, &st.NoncurrentExpired); err != nil {
				return err
			}
		}
	}
	return nil
}

// expireUploads aborts multipart uploads older than a rule allows.
func (s *Server) expireUploads(ctx context.Context, b *bucket, rules []lifecycleRule, now time.Time, st *LifecycleStats, budget *int) error {
	var oldest int
	for _, r := range rules {
		if a := r.AbortIncompleteMultipartUpload; a != nil && (oldest == 0 || a.DaysAfterInitiation < oldest) {
			oldest = a.DaysAfterInitiation
		}
	}
	if oldest == 0 {
		return nil
	}
	rows, err := s.db.Query(ctx, `SELECT id, key, initiated FROM uploads WHERE bucket = ? AND initiated <= ? ORDER BY initiated LIMIT `+strconv.Itoa(*budget),
		b.Name, now.Add(-days(oldest)).UnixMicro())
	if err != nil {
		return err
	}
	type up struct {
		id, key   string
		initiated int64
	}
	var ups []up
	for rows.Next() {
		var u up
		if err := rows.Scan(&u.id, &u.key, &u.initiated); err != nil {
			rows.Close()
			return err
		}
		ups = append(ups, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, u := range ups {
		for _, r := range rules {
			a := r.AbortIncompleteMultipartUpload
			if a == nil || !r.matches(u.key, 0, "") || time.UnixMicro(u.initiated).Add(days(a.DaysAfterInitiation)).After(now) {
				continue
			}
			*budget--
			if err := s.dropUpload(ctx, b, u.id); err != nil && !errors.Is(err, errNoSuchUpload) {
				return err
			}
			st.UploadsAborted++
			break
		}
	}
	return nil
}
