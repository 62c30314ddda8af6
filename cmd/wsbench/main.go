// Command wsbench is the load generator for wsnode. It speaks wire protocol
// v1 (welcome, auth, join, message, direct) and measures one scenario per
// run (Linux only: it reads /proc and uses prctl and nanosleep directly;
// wsnode itself builds everywhere):
//
//	idle     N connections, each authenticated and in one room; with -pids,
//	         per-node RSS growth per connection.
//	connect  connections per second to "joined" at -concurrency, failures
//	         counted by stage (dial, welcome, auth, join).
//	rooms    -rooms rooms of -members receivers spread over all nodes, -pubs
//	         open-loop publishers per room, -rate offered deliveries/s.
//	direct   -conns receivers (one user each), -pubs senders sending direct
//	         messages to random receivers at -rate deliveries/s.
//
// Publishers are open-loop: every message carries its scheduled send time
// and a sequence number, and receivers compute latency from the scheduled
// time, so there is no coordinated omission. The report gives deliveries/s,
// expected vs received (loss), duplicates, latency p50/p90/p99/p99.9/max,
// the generator's own CPU per delivery, and, given -pids and -redis-url, node
// CPU per delivery and Redis commands per message.
//
// Because one process may hold at most 20,000 open files, wsbench runs as a
// coordinator that re-executes itself as -procs worker processes (each
// owning every procs-th connection) and merges their results; -src-count or
// -src spreads dials over several 127.0.0.x source addresses.
//
// Usage:
//
//	wsbench -scenario rooms -urls ws://127.0.0.1:8081/ws,ws://127.0.0.1:8082/ws \
//	    -secret S -rooms 30 -members 100 -rate 10000 -duration 10s \
//	    -pids 123,124 -redis-url redis://127.0.0.1:6390/0 -out rooms.json
//	wsbench report -o bench/BENCHMARKS.md -note "3 nodes" idle.json rooms.json
//	wsbench freeport 4              # prints 4 free TCP ports
//	wsbench waitready URL... [-timeout 20s]   # waits for HTTP 200 from each URL
//	wsbench noise -url U -secret S -clients 50    # malformed frames as fast as U takes them
//	wsbench probe -urls U1,U2 -secret S -pids P1,P2  # room round trip every 50 ms, p50/p99/max
//	wsbench plot -o tail.svg a=rooms.json b=rooms2.json  # worst latency per 100 ms over the window
//	wsbench churn -urls U1,U2,U3 -secret S -clients 3000  # bench/soak.sh's clients: churn, recover, count loss
//	wsbench soakplot -o soak.svg samples.tsv              # bench/soak.sh's plot of heap, goroutines, deliveries/s
//	wsbench storm -urls U1,U2,U3 -pids P1,P2,P3 -secret S -drain 3 -jitter 1s -out a.json  # bench/storm.sh: drain a node, time the rejoins
//	wsbench stormplot -o storm.svg a.json b.json          # bench/storm.sh's table and plot of storm results
//	wsbench hookserver -addr A -delay 1ms                 # a join hook backend that allows every join
//
// With -strict the exit status is 1 when anything failed, was lost,
// duplicated or misrouted, or nothing was delivered.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

// workerMemoryLimit is a worker's soft memory limit, and its only GC
// trigger, unless the environment sets GOGC or GOMEMLIMIT. A worker holds
// thousands of parked reader goroutines whose stacks every GC cycle scans;
// with a percentage trigger (GOGC=400 before), one cycle fell into every
// 20 s small-rooms window at the same point and delayed the worker's own
// readers by 20-70 ms, which the report then showed as a node latency spike
// (bench/analysis.md, "Small rooms"). A run allocates little (a 6,000-socket
// small-rooms run peaks at about 140 MiB with GC off), so below this limit a
// worker never collects during a run.
const workerMemoryLimit = 1 << 30

func main() {
	if os.Getenv(workerEnv) == "1" {
		if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
			debug.SetGCPercent(-1)
			debug.SetMemoryLimit(workerMemoryLimit)
		}
		os.Exit(workerMain(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command line minus the worker mode.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "report":
			return reportMain(args[1:], stdout, stderr)
		case "freeport":
			return freeportMain(args[1:], stdout, stderr)
		case "waitready":
			return waitreadyMain(args[1:], stderr)
		case "noise":
			return noiseMain(args[1:], stdout, stderr)
		case "probe":
			return probeMain(args[1:], stdout, stderr)
		case "plot":
			return plotMain(args[1:], stdout, stderr)
		case "storm":
			return stormMain(args[1:], stdout, stderr)
		case "stormplot":
			return stormplotMain(args[1:], stdout, stderr)
		case "churn":
			return churnMain(args[1:], stdout, stderr)
		case "soakplot":
			return soakplotMain(args[1:], stdout, stderr)
		case "hookserver":
			return hookserverMain(args[1:], stdout, stderr)
		case "capacity":
			return capacityMain(args[1:], stdout, stderr)
		case "clustercmp":
			return clustercmpMain(args[1:], stdout, stderr)
		}
	}
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return bench(ctx, cfg, execLauncher(stderr), stdout, stderr)
}

// bench runs one scenario, prints its summary and writes -out.
func bench(ctx context.Context, cfg *Config, launch launcher, stdout, stderr io.Writer) int {
	rep, err := coordinate(ctx, cfg, launch, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench:", err)
		return 1
	}
	printSummary(stdout, rep)
	if cfg.Out != "" {
		if err := writeJSON(cfg.Out, rep); err != nil {
			fmt.Fprintln(stderr, "wsbench:", err)
			return 1
		}
	}
	if p := rep.Problems(); cfg.Strict && len(p) > 0 {
		fmt.Fprintf(stderr, "wsbench: FAIL: %s\n", strings.Join(p, ", "))
		return 1
	}
	return 0
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
