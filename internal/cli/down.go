package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/sovcloud/sov/internal/engines"
	"github.com/sovcloud/sov/internal/network/linux"
	"github.com/sovcloud/sov/internal/store"
)

// down stops every engine process of a cloud (its VMs, its DHCP servers)
// and removes its networks' bridges, taps and DHCP namespaces. Servers
// that ran come back SHUTOFF at the next sov up.
func down(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "sov-data", "the data dir of the cloud to stop")
	database := fs.String("database", "", "its PostgreSQL URL, if it keeps state there")
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
	if err := reg.StopAll(ctx, *grace); err != nil {
		return err
	}
	if err := linux.RemoveAll(filepath.Join(*dataDir, "network")); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sov is down: no engine process of %s runs, its networks' bridges, taps and namespaces are gone.\n", *dataDir)
	return nil
}
