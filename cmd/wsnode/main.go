// Command wsnode runs one node of a wsnode cluster, or mints a development
// token.
//
//	wsnode [flags]                         serve (see -h for every flag and its env twin)
//	wsnode token --user NAME [--type user|ai_assistant|system] [--ttl 1h]
//
// Without --redis-url the node runs against an embedded in-process Redis,
// which is enough for trying it out on one machine. With --redis-url it is
// one of N identical nodes sharing that Redis.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "wsnode:", err)
		os.Exit(1)
	}
}
