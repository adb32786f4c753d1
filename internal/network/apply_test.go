package network

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestCoalescerSharesApplies: sixteen changes at once share a few
// applies, and each caller returns only after an apply that began after
// its call.
func TestCoalescerSharesApplies(t *testing.T) {
	c := newCoalescer()
	var runs atomic.Int64
	var mu sync.Mutex
	var starts []time.Time
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			called := time.Now()
			var last time.Time
			c.do("net", func() {
				runs.Add(1)
				mu.Lock()
				starts = append(starts, time.Now())
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			})
			mu.Lock()
			for _, s := range starts {
				if s.After(called) {
					last = s
				}
			}
			mu.Unlock()
			if last.IsZero() {
				t.Error("a caller returned before an apply that began after its call")
			}
		}()
	}
	wg.Wait()
	if n := runs.Load(); n < 1 || n > 8 {
		t.Errorf("16 changes ran %d applies", n)
	}
	if len(c.asked) != 0 || len(c.done) != 0 {
		t.Errorf("the coalescer keeps state of a settled network: %v %v", c.asked, c.done)
	}
}
