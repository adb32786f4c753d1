package keymanager

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/sovcloud/sov/internal/httpapi"
	"github.com/sovcloud/sov/internal/store"
)

// Containers group secrets of their project under names: generic ones any
// names, rsa ones a key pair, certificate ones a certificate with its key
// and chain (what a TLS listener takes). Consumers record who uses one.

// containerNames are the names an rsa or a certificate container takes,
// true for the ones it needs.
var containerNames = map[string]map[string]bool{
	"rsa":         {"private_key": true, "public_key": true, "private_key_passphrase": false},
	"certificate": {"certificate": true, "private_key": false, "private_key_passphrase": false, "intermediates": false},
}

type container struct {
	ID, Project, Creator, Name, Type string
	Created, Updated                 int64
	Secrets                          []ref // by name
	Consumers                        []consumer
}

type ref struct{ Name, Secret string }

type consumer struct {
	Name, URL string
	Created   int64
}

func (s *Service) containerRef(id string) string { return s.url + "/v1/containers/" + id }

func (s *Service) containerView(c *container) map[string]any {
	refs := []map[string]string{}
	for _, r := range c.Secrets {
		refs = append(refs, map[string]string{"name": r.Name, "secret_ref": s.secretRef(r.Secret)})
	}
	consumers := []map[string]string{}
	for _, u := range c.Consumers {
		consumers = append(consumers, map[string]string{"name": u.Name, "URL": u.URL})
	}
	return map[string]any{"container_ref": s.containerRef(c.ID), "name": nullable(c.Name), "type": c.Type, "status": "ACTIVE",
		"creator_id": c.Creator, "created": barbicanTime(c.Created), "updated": barbicanTime(c.Updated),
		"secret_refs": refs, "consumers": consumers}
}

const containerColumns = `id, project_id, creator_id, name, container_type, created_at, updated_at`

// loadContainer reads a container with its secrets and consumers.
func (s *Service) loadContainer(ctx context.Context, db store.Querier, row store.Scanner) (*container, error) {
	var c container
	if err := row.Scan(&c.ID, &c.Project, &c.Creator, &c.Name, &c.Type, &c.Created, &c.Updated); err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, `SELECT name, secret_id FROM km_container_secrets WHERE container_id = ? ORDER BY name, secret_id`, c.ID)
	if err != nil {
		return nil, err
	}
	if c.Secrets, err = store.Collect(rows, func(r store.Scanner) (ref, error) { var x ref; return x, r.Scan(&x.Name, &x.Secret) }); err != nil {
		return nil, err
	}
	rows, err = db.Query(ctx, `SELECT name, url, created_at FROM km_container_consumers WHERE container_id = ? ORDER BY created_at, name, url`, c.ID)
	if err != nil {
		return nil, err
	}
	c.Consumers, err = store.Collect(rows, func(r store.Scanner) (consumer, error) { var x consumer; return x, r.Scan(&x.Name, &x.URL, &x.Created) })
	return &c, err
}

// visibleContainer is a container of the caller's project.
func (s *Service) visibleContainer(ctx context.Context, db store.Querier, q *request, id string) (*container, error) {
	c, err := s.loadContainer(ctx, db, db.QueryRow(ctx, `SELECT `+containerColumns+` FROM km_containers WHERE id = ? AND project_id = ?`, id, q.creds.ProjectID))
	if errors.Is(store.Row(err), store.ErrNotFound) {
		return nil, errorf(http.StatusNotFound, "Secrets container not found.")
	}
	return c, store.Row(err)
}

// secretID reads the id at the end of a secret reference.
func secretID(ref string) string {
	return ref[strings.LastIndex(ref, "/")+1:]
}

type refBody struct {
	Name      *string `json:"name"`
	SecretRef *string `json:"secret_ref"`
}

// resolve checks that a reference is a URL of this key manager naming an
// unexpired secret of the caller's project.
func (s *Service) resolve(ctx context.Context, db store.Querier, q *request, b refBody) (ref, error) {
	if b.SecretRef == nil || *b.SecretRef == "" {
		return ref{}, errorf(http.StatusBadRequest, "Provided object does not match schema 'Container': 'secret_ref' is a required property")
	}
	if !strings.HasPrefix(*b.SecretRef, s.secretRef("")) {
		return ref{}, errorf(http.StatusBadRequest, "Provided field value is not supported")
	}
	id := secretID(*b.SecretRef)
	if _, err := uuid.Parse(id); err != nil {
		return ref{}, errorf(http.StatusNotFound, "Secret provided for '%s' doesn't exist.", str(b.Name))
	}
	if _, err := s.visibleSecret(ctx, db, q, id); err != nil {
		if httpapi.Classify(err).Status == http.StatusNotFound {
			return ref{}, errorf(http.StatusNotFound, "Secret provided for '%s' doesn't exist.", str(b.Name))
		}
		return ref{}, err
	}
	return ref{Name: str(b.Name), Secret: id}, nil
}

func (s *Service) createContainer(q *request) error {
	if err := q.enforce("containers:post", q.creds.ProjectID); err != nil {
		return err
	}
	var b struct {
		Type       *string   `json:"type"`
		Name       *string   `json:"name"`
		SecretRefs []refBody `json:"secret_refs"`
	}
	if err := decode(q, &b); err != nil {
		return err
	}
	invalid := func(msg string) error {
		return errorf(http.StatusBadRequest, "Provided object does not match schema 'Container': %s", msg)
	}
	if b.Type == nil {
		return invalid("'type' is a required property")
	}
	names, typed := containerNames[*b.Type]
	if !typed && *b.Type != "generic" {
		return invalid("'type' must be one of generic, rsa, certificate")
	}
	c := &container{ID: uuid.NewString(), Project: q.creds.ProjectID, Creator: q.creds.UserID, Name: str(b.Name), Type: *b.Type, Created: now()}
	c.Updated = c.Created
	if len(c.Name) > 255 {
		return invalid("'name' is longer than 255 characters")
	}
	ctx := q.r.Context()
	seen := map[string]bool{}
	for _, rb := range b.SecretRefs {
		r, err := s.resolve(ctx, s.db, q, rb)
		if err != nil {
			return err
		}
		if typed {
			if _, ok := names[r.Name]; !ok {
				return invalid("a " + c.Type + " container takes no secret named '" + r.Name + "'")
			}
		}
		if seen[r.Name] || seen[r.Secret] {
			return invalid("Duplicate reference names are not allowed")
		}
		seen[r.Name], seen[r.Secret] = true, true
		c.Secrets = append(c.Secrets, r)
	}
	for name, needed := range names {
		if needed && !seen[name] {
			return invalid("a " + c.Type + " container needs a secret named '" + name + "'")
		}
	}
	err := s.db.InTx(ctx, func(tx *store.Tx) error {
		if err := store.Insert(ctx, tx, "km_containers", store.Values{}.Set("id", c.ID).Set("project_id", c.Project).Set("creator_id", c.Creator).
			Set("name", c.Name).Set("container_type", c.Type).Set("created_at", c.Created).Set("updated_at", c.Updated)); err != nil {
			return err
		}
		for _, r := range c.Secrets {
			if err := store.Insert(ctx, tx, "km_container_secrets", store.Values{}.Set("container_id", c.ID).Set("secret_id", r.Secret).Set("name", r.Name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	q.w.Header().Set("Location", s.containerRef(c.ID))
	httpapi.WriteJSON(q.w, http.StatusCreated, map[string]string{"container_ref": s.containerRef(c.ID)})
	return nil
}

func (s *Service) listContainers(q *request) error {
	if err := q.enforce("containers:get", q.creds.ProjectID); err != nil {
		return err
	}
	offset, limit := paging(q.r)
	ctx := q.r.Context()
	where, args := "project_id = ?", []any{q.creds.ProjectID}
	query := q.r.URL.Query()
	for _, f := range []struct{ param, col string }{{"name", "name"}, {"type", "container_type"}} {
		if v, ok := query[f.param]; ok {
			where += " AND " + f.col + " = ?"
			args = append(args, v[0])
		}
	}
	var total int
	if err := s.db.QueryRow(ctx, `SELECT COUNT(*) FROM km_containers WHERE `+where, args...).Scan(&total); err != nil {
		return err
	}
	ids, err := store.Column(ctx, s.db, `SELECT id FROM km_containers WHERE `+where+` ORDER BY created_at, id LIMIT ? OFFSET ?`, append(args, limit, offset)...)
	if err != nil {
		return err
	}
	out := []map[string]any{}
	for _, id := range ids {
		c, err := s.visibleContainer(ctx, s.db, q, id)
		if err != nil {
			if httpapi.Classify(err).Status == http.StatusNotFound {
				continue // deleted meanwhile
			}
			return err
		}
		out = append(out, s.containerView(c))
	}
	body := map[string]any{"containers": out}
	pageLinks(q.r, s.url+"/v1/containers", body, offset, limit, total)
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

func (s *Service) getContainer(q *request) error {
	if err := q.enforce("container:get", q.creds.ProjectID); err != nil {
		return err
	}
	c, err := s.visibleContainer(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.containerView(c))
	return nil
}

// deleteContainer deletes the container, not its secrets.
func (s *Service) deleteContainer(q *request) error {
	if err := q.enforce("container:delete", q.creds.ProjectID); err != nil {
		return err
	}
	c, err := s.visibleContainer(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := store.Affected(s.db.Exec(q.r.Context(), `DELETE FROM km_containers WHERE id = ?`, c.ID)); err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// genericContainer is the container of a request that changes its
// secrets, which only generic containers allow.
func (s *Service) genericContainer(q *request) (*container, refBody, error) {
	if err := q.enforce("container_secret:post", q.creds.ProjectID); err != nil {
		return nil, refBody{}, err
	}
	c, err := s.visibleContainer(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return nil, refBody{}, err
	}
	var b refBody
	if err := decode(q, &b); err != nil {
		return nil, refBody{}, err
	}
	if c.Type != "generic" {
		return nil, refBody{}, errorf(http.StatusBadRequest, "Only 'generic' containers can be modified.")
	}
	return c, b, nil
}

func (s *Service) addContainerSecret(q *request) error {
	c, b, err := s.genericContainer(q)
	if err != nil {
		return err
	}
	ctx := q.r.Context()
	r, err := s.resolve(ctx, s.db, q, b)
	if err != nil {
		return err
	}
	for _, x := range c.Secrets {
		if x.Secret == r.Secret {
			return errorf(http.StatusConflict, "Conflict. A secret with that name and ID is already stored in this container. The same secret can only be stored in a container once with a given name.")
		}
	}
	if err := store.Insert(ctx, s.db, "km_container_secrets", store.Values{}.Set("container_id", c.ID).Set("secret_id", r.Secret).Set("name", r.Name)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return errorf(http.StatusConflict, "Conflict. The secret is already in this container.")
		}
		return err
	}
	q.w.Header().Set("Location", s.containerRef(c.ID))
	httpapi.WriteJSON(q.w, http.StatusCreated, map[string]string{"container_ref": s.containerRef(c.ID)})
	return nil
}

func (s *Service) removeContainerSecret(q *request) error {
	c, b, err := s.genericContainer(q)
	if err != nil {
		return err
	}
	id := secretID(str(b.SecretRef))
	err = store.Affected(s.db.Exec(q.r.Context(), `DELETE FROM km_container_secrets WHERE container_id = ? AND secret_id = ? AND name = ?`, c.ID, id, str(b.Name)))
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "Secret not found in the container.")
	}
	if err != nil {
		return err
	}
	q.w.WriteHeader(http.StatusNoContent)
	return nil
}

// consumerBody reads {"name": ..., "URL": ...}.
func consumerBody(q *request) (consumer, error) {
	var b struct {
		Name *string `json:"name"`
		URL  *string `json:"URL"`
	}
	if err := decode(q, &b); err != nil {
		return consumer{}, err
	}
	if str(b.Name) == "" || str(b.URL) == "" || len(*b.Name) > 36 || len(*b.URL) > 255 {
		return consumer{}, errorf(http.StatusBadRequest, "Provided object does not match schema 'Consumer': 'name' (at most 36 characters) and 'URL' (at most 255) are required")
	}
	return consumer{Name: *b.Name, URL: *b.URL, Created: now()}, nil
}

func (s *Service) listConsumers(q *request) error {
	if err := q.enforce("consumers:get", q.creds.ProjectID); err != nil {
		return err
	}
	c, err := s.visibleContainer(q.r.Context(), s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	offset, limit := paging(q.r)
	out := []map[string]any{}
	for i, u := range c.Consumers {
		if i >= offset && i < offset+limit {
			out = append(out, map[string]any{"name": u.Name, "URL": u.URL, "status": "ACTIVE", "created": barbicanTime(u.Created), "updated": barbicanTime(u.Created)})
		}
	}
	body := map[string]any{"consumers": out}
	pageLinks(q.r, s.containerRef(c.ID)+"/consumers", body, offset, limit, len(c.Consumers))
	httpapi.WriteJSON(q.w, http.StatusOK, body)
	return nil
}

// addConsumer records a consumer (again: no change) and answers the container.
func (s *Service) addConsumer(q *request) error {
	return s.changeConsumers(q, "consumers:post", func(ctx context.Context, c *container, u consumer) error {
		err := store.Insert(ctx, s.db, "km_container_consumers", store.Values{}.Set("container_id", c.ID).Set("name", u.Name).Set("url", u.URL).Set("created_at", u.Created))
		if errors.Is(err, store.ErrConflict) {
			return nil
		}
		return err
	})
}

// removeConsumer forgets a consumer and answers the container.
func (s *Service) removeConsumer(q *request) error {
	return s.changeConsumers(q, "consumers:delete", func(ctx context.Context, c *container, u consumer) error {
		err := store.Affected(s.db.Exec(ctx, `DELETE FROM km_container_consumers WHERE container_id = ? AND name = ? AND url = ?`, c.ID, u.Name, u.URL))
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "Consumer not found.")
		}
		return err
	})
}

// changeConsumers runs change on the consumer a request names, of a
// container of the caller's project, and answers the container after it.
func (s *Service) changeConsumers(q *request, action string, change func(context.Context, *container, consumer) error) error {
	if err := q.enforce(action, q.creds.ProjectID); err != nil {
		return err
	}
	ctx := q.r.Context()
	c, err := s.visibleContainer(ctx, s.db, q, q.r.PathValue("id"))
	if err != nil {
		return err
	}
	u, err := consumerBody(q)
	if err != nil {
		return err
	}
	if err := change(ctx, c, u); err != nil {
		return err
	}
	if c, err = s.visibleContainer(ctx, s.db, q, c.ID); err != nil {
		return err
	}
	httpapi.WriteJSON(q.w, http.StatusOK, s.containerView(c))
	return nil
}
