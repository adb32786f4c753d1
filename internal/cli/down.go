package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/store"
)

// down stops every engine process of a cloud (its VMs, its DHCP servers)
// and removes its host bridge with the taps on it, and its networks'
// bridges and DHCP namespaces. Servers that ran come
// back SHUTOFF at the next sov up.
func down(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "sov-data", "the data dir of the cloud to stop")
	database := fs.String("database", "", "its PostgreSQL URL, if it keeps state there")
	bridge := fs.String("bridge", "sovbr0", "its host bridge")
	grace := fs.Duration("grace", 10*time.Second, "how long each process has to end after SIGTERM")
	if err := fs.Parse(args); err != nil {
		return err
	}
	dsn := *database
	if dsn == "" {
		dsn = filepath.Join(*dataDir, "sov.db")
	}
	db, err := store.Open(ctx, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	reg, err := engines.New(db, engines.CloudID(*dataDir))
	if err != nil {
		return err
	}
	err = reg.StopAll(ctx, *grace)
	if br, lerr := netlink.LinkByName(*bridge); lerr == nil {
		links, _ := netlink.LinkList()
		for _, l := range links {
			if l.Attrs().MasterIndex == br.Attrs().Index {
				err = errors.Join(err, netlink.LinkDel(l))
			}
		}
		err = errors.Join(err, netlink.LinkDel(br))
	}
	err = errors.Join(err, linux.RemoveAll(filepath.Join(*dataDir, "network")))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sov is down: no engine process of %s runs, bridge %s and the networks' bridges are gone.\n", *dataDir, *bridge)
	return nil
}
