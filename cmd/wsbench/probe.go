package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/auth"
)

// probeMain is "wsbench probe": one client per -urls node, each in a room
// of its own, sends a room message every -interval and times the round trip
// to its own copy (the message carries its send time, so a late answer
// delays no later measurement). After -duration it prints, per node, the
// messages sent and received and the round trip's p50/p99/max, and with
// -pids the CPU seconds each of those processes used over the window. The
// noisy-neighbour benchmark (bench/noisy.sh) runs it with and without
// "wsbench noise" on the first node.
func probeMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench probe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "", "comma-separated ws:// URLs, one probe each")
	secret := fs.String("secret", "", "the nodes' JWT secret")
	interval := fs.Duration("interval", 50*time.Millisecond, "time between a probe's messages")
	duration := fs.Duration("duration", 10*time.Second, "measured window")
	pids := fs.String("pids", "", "comma-separated PIDs whose CPU time to report over the window")
	label := fs.String("label", "probe", "label of the output lines")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *urls == "" || *secret == "" || *interval <= 0 {
		fmt.Fprintln(stderr, "usage: wsbench probe -urls ws://...[,...] -secret S [-interval 50ms] [-duration 10s] [-pids P,...]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	v, err := auth.NewVerifier(0, *secret)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench probe:", err)
		return 2
	}
	var probes []*probe
	for i, u := range strings.Split(*urls, ",") {
		p, err := newProbe(ctx, u, v, i)
		if err != nil {
			fmt.Fprintln(stderr, "wsbench probe:", err)
			return 1
		}
		defer p.ws.Close()
		probes = append(probes, p)
	}
	var procs []int
	if *pids != "" {
		for _, s := range strings.Split(*pids, ",") {
			pid, err := strconv.Atoi(s)
			if err != nil {
				fmt.Fprintln(stderr, "wsbench probe: bad pid", s)
				return 2
			}
			procs = append(procs, pid)
		}
	}
	cpu0 := make([]float64, len(procs))
	for i, pid := range procs {
		cpu0[i], _ = procCPU(pid)
	}
	t0 := time.Now()
	var wg sync.WaitGroup
	for _, p := range probes {
		wg.Add(1)
		go func() { defer wg.Done(); p.run(ctx, *interval, *duration) }()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	for _, p := range probes {
		s := p.hist.Snapshot().Summary()
		fmt.Fprintf(stdout, "probe %s %s: sent %d received %d p50 %.2f p99 %.2f max %.2f ms\n",
			*label, p.url, p.sent, s.Count, s.P50, s.P99, s.Max)
	}
	if len(procs) > 0 {
		var b strings.Builder
		for i, pid := range procs {
			c, _ := procCPU(pid)
			fmt.Fprintf(&b, " %.2f", c-cpu0[i])
		}
		fmt.Fprintf(stdout, "cpu %s: %s s over %.1f s\n", *label, strings.TrimSpace(b.String()), elapsed.Seconds())
	}
	return 0
}

// probe is one timed client.
type probe struct {
	url  string
	ws   *websocket.Conn
	room string
	hist *Histogram
	sent int
}

// newProbe dials url, authenticates and joins a room of its own.
func newProbe(ctx context.Context, url string, v *auth.Verifier, i int) (*probe, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	p := &probe{url: url, ws: ws, hist: NewHistogram(), room: fmt.Sprintf("probe-%d-%d", i, time.Now().UnixNano())}
	tok, err := v.Mint(fmt.Sprintf("probe-%d", i), auth.TypeUser, time.Hour)
	if err != nil {
		_ = ws.Close()
		return nil, err
	}
	for _, req := range []map[string]any{{"type": "auth", "token": tok}, {"type": "join", "room": p.room}} {
		if err := p.request(req); err != nil {
			_ = ws.Close()
			return nil, fmt.Errorf("%s: %w", url, err)
		}
	}
	return p, nil
}

// request sends req and waits for its answer (not an error frame).
func (p *probe) request(req map[string]any) error {
	if err := p.ws.WriteJSON(req); err != nil {
		return err
	}
	_ = p.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var f struct{ Type, Code string }
		if err := p.ws.ReadJSON(&f); err != nil {
			return err
		}
		switch f.Type {
		case "welcome", "ping":
			continue
		case "error":
			return fmt.Errorf("%v: error %s", req["type"], f.Code)
		}
		return nil
	}
}

// run sends a message every interval for duration and records the round
// trips of those that come back before the socket is closed.
func (p *probe) run(ctx context.Context, interval, duration time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.ws.SetReadDeadline(time.Time{})
		for {
			_, b, err := p.ws.ReadMessage()
			if err != nil {
				return
			}
			var f struct {
				Type string `json:"type"`
				Room string `json:"room"`
				Data int64  `json:"data"`
			}
			if json.Unmarshal(b, &f) == nil && f.Type == "message" && f.Room == p.room {
				p.hist.Record(time.Now().UnixNano() - f.Data)
			}
		}
	}()
	tick := time.NewTicker(interval)
	end := time.After(duration)
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-end:
			break loop
		case <-tick.C:
			msg, _ := json.Marshal(map[string]any{"type": "message", "room": p.room, "data": time.Now().UnixNano()})
			if p.ws.WriteMessage(websocket.TextMessage, msg) != nil {
				break loop
			}
			p.sent++
		}
	}
	tick.Stop()
	time.Sleep(min(time.Second, 20*interval)) // late answers still count
	_ = p.ws.Close()
	<-done
}
