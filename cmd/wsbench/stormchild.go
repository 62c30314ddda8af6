package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The child process of a split storm run ("wsbench storm ... -role
// drained") holds the drained node's clients. It speaks one line at a
// time with its parent:
//
//	child  -> parent  "ready" once its clients are joined (or "fail MESSAGE")
//	parent -> child   "drain UNIXNS" just before the SIGTERM goes out
//	child  -> parent  "ok", then, once all are back or at the timeout, the
//	                  drainedReport as one JSON line
//
// and it stops its clients and exits when its stdin ends.

// stormChildEnv is set in the child's environment. The wsbench binary
// needs no such mark (the child's command line says what it is); the test
// binary, which os.Executable names in tests, reads it to run its command
// line as wsbench would (TestMain).
const stormChildEnv = "WSBENCH_STORM_CHILD"

// runDrainedChild is the child's side.
func runDrainedChild(ctx context.Context, cfg *stormConfig, in io.Reader, out io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := newStormHarness(cfg)
	h.recordFrom.Store(1 << 62) // the child records no latency
	clients, wait, err := connectClients(ctx, cfg, h, func(node int) bool { return node == cfg.drain })
	defer func() { cancel(); wait() }()
	if err != nil {
		fmt.Fprintln(out, "fail", err)
		return err
	}
	fmt.Fprintln(out, "ready")
	lines := bufio.NewScanner(in)
	if !lines.Scan() {
		return errors.New("stdin ended before the drain")
	}
	at, ok := strings.CutPrefix(lines.Text(), "drain ")
	drainAt, err := strconv.ParseInt(at, 10, 64)
	if !ok || err != nil {
		return fmt.Errorf("want \"drain UNIXNS\", got %q", lines.Text())
	}
	g := &localGroup{h: h, clients: clients}
	_ = g.drain(drainAt)
	fmt.Fprintln(out, "ok")
	rep, err := g.wait(ctx, time.Unix(0, drainAt).Add(cfg.timeout))
	if err != nil {
		return err
	}
	if err := json.NewEncoder(out).Encode(rep); err != nil {
		return err
	}
	for lines.Scan() { // the rejoined clients keep reading until the parent is done
	}
	return nil
}

// childGroup is the parent's handle on the child.
type childGroup struct {
	cmd   *exec.Cmd
	in    io.WriteCloser
	lines *bufio.Scanner

	stopOnce sync.Once
	exitErr  error // the child's exit, once stopped
}

// startChild starts the child with the run's flags (args, as given to
// "wsbench storm", plus the prefix the parent chose) and waits until its
// clients are joined. stderr gets the child's log; the child dies with this
// process (startSelf).
func startChild(ctx context.Context, cfg *stormConfig, args []string, stderr io.Writer) (*childGroup, error) {
	cargs := append([]string{"storm"}, args...)
	cargs = append(cargs, "-prefix", cfg.prefix, "-role", "drained", "-out", "")
	cmd, in, outp, err := startSelf(cargs, stormChildEnv+"=1", stderr)
	if err != nil {
		return nil, fmt.Errorf("start storm child: %w", err)
	}
	g := &childGroup{cmd: cmd, in: in, lines: bufio.NewScanner(outp)}
	g.lines.Buffer(make([]byte, 64<<10), 64<<20)
	if err := g.expect(ctx, "ready"); err != nil {
		g.stop()
		return nil, err
	}
	return g, nil
}

// next reads the child's next line, or fails when ctx ends first.
func (g *childGroup) next(ctx context.Context) (string, error) {
	got := make(chan bool, 1)
	go func() { got <- g.lines.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			return "", fmt.Errorf("storm child: output ended (%v)", g.lines.Err())
		}
		return g.lines.Text(), nil
	case <-ctx.Done():
		g.stop() // ends the Scan above
		<-got
		return "", ctx.Err()
	}
}

func (g *childGroup) expect(ctx context.Context, want string) error {
	line, err := g.next(ctx)
	if err == nil && line != want {
		err = fmt.Errorf("storm child: %s", line)
	}
	return err
}

func (g *childGroup) drain(drainAt int64) error {
	if _, err := fmt.Fprintf(g.in, "drain %d\n", drainAt); err != nil {
		return err
	}
	return g.expect(context.Background(), "ok")
}

// wait reads the report; the child sends it by the deadline (its own
// clients' timeout), so ctx bounds only an interrupted run.
func (g *childGroup) wait(ctx context.Context, _ time.Time) (*drainedReport, error) {
	line, err := g.next(ctx)
	if err != nil {
		return nil, err
	}
	var r drainedReport
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		return nil, fmt.Errorf("storm child report: %w", err)
	}
	return &r, nil
}

func (g *childGroup) pid() int { return g.cmd.Process.Pid }

// stop ends the child: its stdin closes, it stops its clients and exits
// (killed if it has not within 10 s). It returns the child's exit error;
// calls after the first return the same.
func (g *childGroup) stop() error {
	g.stopOnce.Do(func() {
		_ = g.in.Close()
		done := make(chan error, 1)
		go func() { done <- g.cmd.Wait() }()
		select {
		case g.exitErr = <-done:
		case <-time.After(10 * time.Second):
			_ = g.cmd.Process.Kill()
			g.exitErr = <-done
		}
	})
	return g.exitErr
}
