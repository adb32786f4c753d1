// Package service is the contract every part of sov that the server runs
// meets (the API services, and the store and engine registry beneath
// them), and the Group that starts them in order, runs their background
// tasks in one supervised group, and undoes them in reverse.
//
// A service implements Name and whichever of the optional interfaces it
// needs: Router (HTTP routes), Cataloged (Keystone catalog entries),
// Starter (bootstrap and recovery), Worker (background tasks) and Closer.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Service is anything the server starts.
type Service interface {
	Name() string
}

// Router serves HTTP routes on the API listener.
type Router interface {
	Register(mux *http.ServeMux)
}

// CatalogEntry is one service of the Keystone catalog, at URL.
type CatalogEntry struct{ Type, Name, URL string }

// Cataloged lists the catalog entries of a service.
type Cataloged interface {
	Catalog() []CatalogEntry
}

// Starter does a service's start-up work (bootstrap, recovery). What it
// did is undone by Close, which is called also when Start fails.
type Starter interface {
	Start(ctx context.Context) error
}

// Closer releases what a service holds. It must work after a failed Start.
type Closer interface {
	Close(ctx context.Context) error
}

// Task is background work run every Every; a task with Every 0 is not run.
type Task struct {
	Name  string
	Every time.Duration
	Run   func(context.Context) error
}

// Worker lists a service's background tasks.
type Worker interface {
	Tasks() []Task
}

// Group runs services: Start starts them in order, Close stops the tasks
// and closes the started services in reverse.
type Group struct {
	// Register puts a catalog entry into the catalog.
	Register func(ctx context.Context, e CatalogEntry) error
	Log      *slog.Logger

	started []Service
	tasks   []Task
	stop    context.CancelFunc
	running sync.WaitGroup
}

// Start starts each service in turn: its catalog entries, then Start. When
// one fails, the ones started (and the failing one) are closed in reverse.
func (g *Group) Start(ctx context.Context, services ...Service) error {
	for _, s := range services {
		g.started = append(g.started, s)
		if err := g.start(ctx, s); err != nil {
			return errors.Join(fmt.Errorf("%s: %w", s.Name(), err), g.closeStarted(context.WithoutCancel(ctx)))
		}
	}
	return nil
}

func (g *Group) start(ctx context.Context, s Service) error {
	if c, ok := s.(Cataloged); ok {
		for _, e := range c.Catalog() {
			if err := g.Register(ctx, e); err != nil {
				return err
			}
		}
	}
	if st, ok := s.(Starter); ok {
		if err := st.Start(ctx); err != nil {
			return err
		}
	}
	if w, ok := s.(Worker); ok {
		g.tasks = append(g.tasks, w.Tasks()...)
	}
	return nil
}

// Mount registers the routes of every service that has some.
func (g *Group) Mount(mux *http.ServeMux) {
	for _, s := range g.started {
		if r, ok := s.(Router); ok {
			r.Register(mux)
		}
	}
}

// AddTask adds a task that no service lists (one the server composes).
func (g *Group) AddTask(t Task) { g.tasks = append(g.tasks, t) }

// RunTasks starts the background tasks; Close stops them.
func (g *Group) RunTasks(ctx context.Context) {
	ctx, g.stop = context.WithCancel(context.WithoutCancel(ctx))
	for _, t := range g.tasks {
		if t.Every <= 0 {
			continue
		}
		g.running.Add(1)
		go func() {
			defer g.running.Done()
			tick := time.NewTicker(t.Every)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
					if err := t.Run(ctx); err != nil && ctx.Err() == nil {
						g.Log.Error(t.Name+" failed", "err", err)
					}
				}
			}
		}()
	}
}

// Close stops the tasks, waits for them, and closes the services in reverse.
func (g *Group) Close(ctx context.Context) error {
	if g.stop != nil {
		g.stop()
	}
	g.running.Wait()
	return g.closeStarted(ctx)
}

func (g *Group) closeStarted(ctx context.Context) error {
	var errs []error
	for i := len(g.started) - 1; i >= 0; i-- {
		if c, ok := g.started[i].(Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s: close: %w", g.started[i].Name(), err))
			}
		}
	}
	g.started = nil
	return errors.Join(errs...)
}
