package server

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sovcloud/sov/internal/objectstore"
)

// lifecycleRunner runs the S3 lifecycle rules and counts what they did in
// /metrics: sov_s3_lifecycle_actions_total{action} and the time of the
// last pass that finished.
type lifecycleRunner struct {
	objects *objectstore.Server
	actions *prometheus.CounterVec
	last    prometheus.Gauge
}

func newLifecycleRunner(objects *objectstore.Server, reg prometheus.Registerer) *lifecycleRunner {
	r := &lifecycleRunner{objects: objects,
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sov_s3_lifecycle_actions_total",
			Help: "Objects, versions, delete markers and uploads removed by S3 lifecycle rules."}, []string{"action"}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sov_s3_lifecycle_last_pass_timestamp_seconds",
			Help: "When the last S3 lifecycle pass finished."})}
	reg.MustRegister(r.actions, r.last)
	return r
}

func (r *lifecycleRunner) run(ctx context.Context) error {
	st, err := r.objects.RunLifecycle(ctx, time.Now())
	r.actions.WithLabelValues("expire").Add(float64(st.Expired))
	r.actions.WithLabelValues("expire_noncurrent").Add(float64(st.NoncurrentExpired))
	r.actions.WithLabelValues("remove_delete_marker").Add(float64(st.MarkersRemoved))
	r.actions.WithLabelValues("abort_upload").Add(float64(st.UploadsAborted))
	if err == nil {
		r.last.SetToCurrentTime()
	}
	return err
}
