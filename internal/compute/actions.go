package compute

import (
	"errors"
	"net/http"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/ops"
	"github.com/sovcloud/sov/internal/store"
)

// Nova's instance actions (os-instance-actions, openstack server event
// list/show): the record the ops runner keeps of every action asked of a
// server and the events it went through.

const novaTime = "2006-01-02T15:04:05.000000"

func actionJSON(srvID string, a ops.Action, events []ops.Event) map[string]any {
	out := map[string]any{"action": a.Name, "instance_uuid": srvID, "request_id": a.RequestID, "user_id": a.UserID,
		"project_id": a.ProjectID, "start_time": a.Start.Format(novaTime), "message": nil}
	for _, e := range events {
		if e.Result == "Error" {
			out["message"] = "Error"
		}
	}
	return out
}

// listActions serves GET /servers/{id}/os-instance-actions.
func (s *Service) listActions(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-instance-actions:list", srv.ProjectID); err != nil {
		return err
	}
	actions, err := s.ops.Actions(q.r.Context(), srv.ID)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, a := range actions {
		_, events, err := s.ops.Action(q.r.Context(), srv.ID, a.RequestID)
		if err != nil {
			return err
		}
		out = append(out, actionJSON(srv.ID, a, events))
	}
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"instanceActions": out})
	return nil
}

// showAction serves GET /servers/{id}/os-instance-actions/{request_id}:
// the action with its events; why an event failed only to admins.
func (s *Service) showAction(q *request) error {
	srv, err := s.serverFor(q)
	if err != nil {
		return err
	}
	if err := q.enforce("os_compute_api:os-instance-actions:show", srv.ProjectID); err != nil {
		return err
	}
	reqID := q.r.PathValue("request_id")
	a, events, err := s.ops.Action(q.r.Context(), srv.ID, reqID)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Action %s not found", reqID)
	}
	if err != nil {
		return err
	}
	out := actionJSON(srv.ID, a, events)
	evs := []map[string]any{}
	for _, e := range events {
		ev := map[string]any{"event": e.Name, "start_time": e.Start.Format(novaTime), "finish_time": nil, "result": nil}
		if !e.Finish.IsZero() {
			ev["finish_time"], ev["result"] = e.Finish.Format(novaTime), e.Result
		}
		if q.admin() {
			ev["traceback"] = nil
			if e.Traceback != "" {
				ev["traceback"] = e.Traceback
			}
		}
		evs = append(evs, ev)
	}
	out["events"] = evs
	httpapi.WriteJSON(q.w, http.StatusOK, map[string]any{"instanceAction": out})
	return nil
}
