package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wsnode/wsnode/events"
)

const eventsUsage = `usage: wsnode events --redis-url URL --group G [--consumer NAME] [--key-prefix ws] [flags]

Reads the cluster's client-event stream (PREFIX:events) as one consumer of a
Redis consumer group, and prints each event as one JSON line on stdout,
{"id":"<entry id>","event":{...}} (with "redelivered":true when the entry was
pending before), acknowledging it after the line is written. Workers of one
group share its events; each needs its own --consumer name. SIGINT or SIGTERM
finishes the current line and exits 0; a second signal exits at once.

--redis-url and --key-prefix have the env twins WS_REDIS_URL and WS_KEY_PREFIX.

`

// runEvents tails the client-event stream through package events until
// SIGINT or SIGTERM. After -h or --help it has printed the usage and returns
// flag.ErrHelp.
func runEvents(args []string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one takes its default action (the
	// process ends at once), for a line that cannot be written: main's own
	// signal.NotifyContext would otherwise swallow it.
	defer context.AfterFunc(ctx, func() { signal.Reset(os.Interrupt, syscall.SIGTERM) })()
	return eventsMain(ctx, args, stdout, stderr, os.LookupEnv)
}

// eventLine is one line of wsnode events' output.
type eventLine struct {
	ID          string       `json:"id"`
	Redelivered bool         `json:"redelivered,omitempty"`
	Event       events.Event `json:"event"`
}

// eventsMain is wsnode events without the process: it reads until ctx is
// canceled and returns nil, or returns the error that stopped it (bad
// flags, stdout not writable).
func eventsMain(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) (string, bool)) error {
	fs := flag.NewFlagSet("wsnode events", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, eventsUsage)
		fs.PrintDefaults()
	}
	var cfg events.Config
	redisURL := fs.String("redis-url", "", "Redis URL of the cluster, e.g. redis://127.0.0.1:6379/0 (required)")
	redisMode := fs.String("redis-mode", modeSingle, "how --redis-url is read, as the nodes': single, sentinel or cluster")
	fs.StringVar(&cfg.Prefix, "key-prefix", events.DefaultPrefix, "key prefix of the cluster (the nodes' --key-prefix); the stream is PREFIX:events, or {PREFIX:e}:events with --redis-mode cluster")
	fs.StringVar(&cfg.Stream, "stream", "", "stream key, instead of PREFIX:events")
	fs.StringVar(&cfg.Group, "group", "", "consumer group (required); created when missing")
	fs.StringVar(&cfg.Consumer, "consumer", "", "consumer name in the group (default <hostname>-<pid>); a worker restarted under its name first prints what it had left unacknowledged")
	fs.StringVar(&cfg.StartID, "start-id", events.DefaultStartID, `where a group created now starts: "0" the oldest entry still in the stream, "$" only new entries, or an entry id`)
	fs.IntVar(&cfg.Count, "count", events.DefaultCount, "entries per read")
	fs.DurationVar(&cfg.Block, "block", events.DefaultBlock, "how long one read waits for new entries (also bounds how long a stop takes when idle)")
	fs.DurationVar(&cfg.ClaimMinIdle, "claim-idle", events.DefaultClaimMinIdle, "take over entries pending this long on any consumer of the group (a dead worker's)")
	fs.DurationVar(&cfg.ClaimInterval, "claim-interval", events.DefaultClaimInterval, "how often to look for such entries")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error (logs go to stderr)")
	logFormat := fs.String("log-format", "text", "text or json")
	// Only the cluster's settings have env twins: a WS_… variable meant for
	// the node must not silently change a worker's group or name.
	shared := func(name string) (string, bool) {
		if name != envName("redis-url") && name != envName("redis-mode") && name != envName("key-prefix") {
			return "", false
		}
		return getenv(name)
	}
	if err := parseFlags(fs, args, shared); err != nil {
		return err
	}
	if *redisURL == "" {
		return errors.New("events: --redis-url (WS_REDIS_URL) is required")
	}
	if cfg.Group == "" {
		return errors.New("events: --group is required")
	}
	log, err := newLogger(stderr, *logLevel, *logFormat)
	if err != nil {
		return err
	}
	if err := checkRedisMode(*redisMode, *redisURL); err != nil {
		return err
	}
	rdb, err := openRedis(*redisMode, *redisURL)
	if err != nil {
		return err
	}
	defer routeRedisLogs(log)()
	defer rdb.Close()
	cfg.RedisCluster = *redisMode == modeCluster
	cfg.Logger = log
	c, err := events.New(rdb, cfg)
	if err != nil {
		return err
	}
	eff := c.Config()
	log.Info("reading events", "stream", eff.Stream, "group", eff.Group, "consumer", eff.Consumer)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var writeErr error
	err = c.Run(runCtx, func(_ context.Context, e events.Entry) error {
		b, err := json.Marshal(eventLine{ID: e.ID, Redelivered: e.Redelivered, Event: e.Event})
		if err == nil {
			_, err = stdout.Write(append(b, '\n'))
		}
		if err != nil {
			// Not acknowledged: the entry stays pending for the next run of
			// this consumer, or for the others.
			writeErr = err
			cancel()
		}
		return err
	})
	s := c.Stats()
	log.Info("stopped", "handled", s.Handled, "malformed", s.Malformed, "trimmed", s.Trimmed,
		"claimed", s.Claimed, "redis_errors", s.Errors)
	if writeErr != nil {
		return fmt.Errorf("events: writing to stdout: %w", writeErr)
	}
	return err
}
