// Package cli implements the sov command line: `sov up` runs an all-in-one
// cloud, `sov down` stops what it started, `sov bench` measures any Keystone,
// `sov login`, `sov oidc` and `sov federation` sign in at, manage and trust
// OpenID Connect providers.
package cli

import (
	"context"
	"fmt"
	"io"
)

const usage = `usage: sov <command> [flags]

commands:
  up      start an all-in-one cloud in the foreground and print how to use it
  down    stop every process a cloud started (VMs, DHCP) and remove its bridge
  bench   measure any Keystone (bench identity), any S3 (bench s3) or the disk (bench disk)
  login   sign in at an OpenID Connect provider (device flow) and print an access token
  oidc    manage the clients of a cloud's OpenID Connect provider (oidc client create|list|delete)
  federation  trust another cloud's (or any) OpenID Connect provider (federation trust)

Run "sov <command> -h" for the flags of a command.
`

// Run runs the sov command line with args (without the program name).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch args[0] {
	case "up":
		return up(ctx, args[1:], stdout, stderr)
	case "down":
		return down(ctx, args[1:], stdout, stderr)
	case "bench":
		return runBench(ctx, args[1:], stdout, stderr)
	case "login":
		return login(ctx, args[1:], stdout, stderr)
	case "oidc":
		return oidcCommand(ctx, args[1:], stdout, stderr)
	case "federation":
		return federation(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
