package service

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"time"
)

// fake records what the group did to it in the shared log.
type fake struct {
	name     string
	log      *[]string
	failWith error
	entries  []CatalogEntry
	task     *atomic.Int32
}

func (f *fake) Name() string { return f.name }
func (f *fake) Start(context.Context) error {
	*f.log = append(*f.log, "start "+f.name)
	return f.failWith
}
func (f *fake) Close(context.Context) error {
	*f.log = append(*f.log, "close "+f.name)
	return nil
}
func (f *fake) Catalog() []CatalogEntry { return f.entries }
func (f *fake) Tasks() []Task {
	if f.task == nil {
		return nil
	}
	return []Task{{Name: f.name, Every: time.Millisecond, Run: func(context.Context) error { f.task.Add(1); return nil }},
		{Name: "never", Every: 0, Run: func(context.Context) error { panic("a task with Every 0 ran") }}}
}

func newGroup(log *[]string) *Group {
	return &Group{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Register: func(_ context.Context, e CatalogEntry) error {
		*log = append(*log, "catalog "+e.Type)
		return nil
	}}
}

func TestGroupStartsInOrderAndClosesInReverse(t *testing.T) {
	var log []string
	var ticks atomic.Int32
	g := newGroup(&log)
	a := &fake{name: "a", log: &log, entries: []CatalogEntry{{Type: "compute"}}}
	b := &fake{name: "b", log: &log, task: &ticks}
	if err := g.Start(context.Background(), a, b); err != nil {
		t.Fatal(err)
	}
	g.RunTasks(context.Background())
	for end := time.Now().Add(5 * time.Second); ticks.Load() < 3; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the task did not run")
		}
	}
	if err := g.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := ticks.Load()
	time.Sleep(10 * time.Millisecond)
	if ticks.Load() != after {
		t.Error("a task ran after Close")
	}
	want := []string{"catalog compute", "start a", "start b", "close b", "close a"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("got %v, want %v", log, want)
	}
}

func TestGroupUndoesAFailedStart(t *testing.T) {
	var log []string
	g := newGroup(&log)
	boom := errors.New("boom")
	err := g.Start(context.Background(), &fake{name: "a", log: &log}, &fake{name: "b", log: &log, failWith: boom}, &fake{name: "c", log: &log})
	if !errors.Is(err, boom) {
		t.Fatalf("Start = %v", err)
	}
	want := []string{"start a", "start b", "close b", "close a"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("got %v, want %v", log, want)
	}
	if err := g.Close(context.Background()); err != nil || len(log) != len(want) {
		t.Errorf("a Close after a failed Start closed again: %v %v", err, log)
	}
}
