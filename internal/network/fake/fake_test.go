package fake

import (
	"net/netip"
	"testing"
)

func TestFakeHost(t *testing.T) {
	h := New(netip.MustParsePrefix("10.9.0.0/24"))
	if err := h.Attach("tap1", "fa:16:3e:00:00:01", netip.MustParseAddr("10.9.1.5")); err == nil {
		t.Error("an address outside the subnet was attached")
	}
	if err := h.Attach("tap1", "fa:16:3e:00:00:01", netip.MustParseAddr("10.9.0.5")); err != nil {
		t.Fatal(err)
	}
	if a := h.Attached(); len(a) != 1 || a["tap1"].IP != netip.MustParseAddr("10.9.0.5") {
		t.Errorf("attached = %v", a)
	}
	h.Detach("tap1", "fa:16:3e:00:00:01")
	h.Detach("tap1", "fa:16:3e:00:00:01") // a gone tap detaches again
	if a := h.Attached(); len(a) != 0 {
		t.Errorf("after detach = %v", a)
	}
}
