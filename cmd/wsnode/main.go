// Command wsnode runs one node of a wsnode cluster, mints a development
// token, or tails the client-event stream as a consumer-group worker.
//
//	wsnode [flags]                         serve (see -h for every flag and its env twin)
//	wsnode token --user NAME [--type user|ai_assistant|system] [--rooms R,...] [--ttl 1h]
//	wsnode events --redis-url URL --group G [--consumer NAME]
//
// Without --redis-url the node runs against an embedded in-process Redis,
// which is enough for trying it out on one machine. With --redis-url it is
// one of N identical nodes sharing that Redis.
//
// -h or --help, for wsnode or any subcommand, prints the usage and exits 0;
// any other error exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	execSelf = reexec
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.As(err, new(loggedError)) {
			fmt.Fprintln(os.Stderr, "wsnode:", err)
		}
		os.Exit(1)
	}
}

// loggedError is an error that the node has already written to its log (in
// the log's format, e.g. JSON); main exits 1 without printing it again.
type loggedError struct{ err error }

func (e loggedError) Error() string { return e.err.Error() }
func (e loggedError) Unwrap() error { return e.err }

// subcommands are the words wsnode accepts in place of its serving flags.
// Each parses its own flags and returns flag.ErrHelp after -h or --help.
var subcommands = map[string]func(args []string, stdout, stderr io.Writer) error{
	"token":  runToken,
	"events": runEvents,
}

// run is the program without the process: it serves, or runs the
// subcommand named by args[0]. A request for help (-h, --help) is not an
// error: the usage has been printed, and run returns nil.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var err error
	if len(args) > 0 && subcommands[args[0]] != nil {
		err = subcommands[args[0]](args[1:], stdout, stderr)
	} else {
		err = serve(ctx, args, stdout, stderr)
	}
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}
