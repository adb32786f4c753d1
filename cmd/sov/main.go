// Command sov is a sovereign cloud stack in one binary.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/sovcloud/sov/internal/cli"
)

func main() {
	if err := cli.Run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "sov:", err)
		os.Exit(1)
	}
}
