package servertest

import (
	"context"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
)

// FlavorID returns the id of the flavor of that name, as compute c lists it.
func FlavorID(t testing.TB, c *gophercloud.ServiceClient, name string) string {
	t.Helper()
	pages, err := flavors.ListDetail(c, nil).AllPages(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	all, _ := flavors.ExtractFlavors(pages)
	for _, f := range all {
		if f.Name == name {
			return f.ID
		}
	}
	t.Fatalf("no flavor %s", name)
	return ""
}
