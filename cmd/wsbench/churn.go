package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
	"github.com/wsnode/wsnode/auth"
)

// churnMain is "wsbench churn", the client side of bench/soak.sh: receivers
// in history rooms that keep the last offset they saw and rejoin with
// "since" whenever their socket closes (a node restart, or the churn that
// closes random sockets at -reconnects per second), and publishers that
// send to the rooms at -rate deliveries per second. Every -every it prints
// one line; at the end a summary. Loss and duplicates are counted from the
// offsets: a receiver that sees offset o after o' < o-1 lost o-o'-1 messages
// (unless its join said recovered:false, counted apart), one that sees an
// offset again got a duplicate.
//
//	wsbench churn -urls U1,U2,U3 -secret S -clients 3000 -rooms 100 -rate 5000 -reconnects 50 -duration 10m
func churnMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench churn", flag.ContinueOnError)
	fs.SetOutput(stderr)
	urls := fs.String("urls", "", "comma-separated node URLs; a client that must reconnect moves to the next")
	secret := fs.String("secret", "", "the nodes' JWT secret")
	cfg := churnConfig{}
	fs.IntVar(&cfg.clients, "clients", 3000, "receivers (each in one history room)")
	fs.IntVar(&cfg.rooms, "rooms", 100, "history rooms; the receivers are spread over them")
	fs.IntVar(&cfg.pubs, "pubs", 10, "publisher connections")
	fs.Float64Var(&cfg.rate, "rate", 5000, "offered deliveries per second")
	fs.Float64Var(&cfg.reconnects, "reconnects", 50, "receiver sockets closed per second (each reconnects and recovers)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Minute, "how long to run")
	fs.DurationVar(&cfg.every, "every", 10*time.Second, "interval of the progress lines")
	prefix := fs.String("prefix", fmt.Sprintf("soak%04x", rand.IntN(1<<16)), "room and user name prefix")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg.urls, cfg.prefix = splitList(*urls), *prefix
	if len(cfg.urls) == 0 || *secret == "" || cfg.clients < 1 || cfg.rooms < 1 || cfg.pubs < 1 || cfg.rate <= 0 {
		fmt.Fprintln(stderr, "usage: wsbench churn -urls U1,U2 -secret S [-clients 3000 -rooms 100 -pubs 10 -rate 5000 -reconnects 50 -duration 10m]")
		return 2
	}
	v, err := auth.NewVerifier(0, *secret)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench churn:", err)
		return 2
	}
	cfg.mint = func(user string) (string, error) { return v.Mint(user, auth.TypeUser, 24*time.Hour) }
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.duration)
	defer cancel()
	st := runChurn(ctx, &cfg, stdout)
	fmt.Fprintf(stdout, "summary: delivered %d lost %d duplicates %d reconnects %d recovered %d unrecoverable %d publish errors %d\n",
		st.delivered.Load(), st.lost.Load(), st.dups.Load(), st.reconnects.Load(), st.recovered.Load(), st.unrecovered.Load(), st.pubErrs.Load())
	if st.lost.Load() > 0 || st.dups.Load() > 0 {
		return 1
	}
	return 0
}

type churnConfig struct {
	urls                 []string
	prefix               string
	clients, rooms, pubs int
	rate, reconnects     float64
	duration, every      time.Duration
	mint                 func(user string) (string, error)
}

type churnStats struct {
	delivered, lost, dups, reconnects, recovered, unrecovered, pubErrs, connected atomic.Int64
}

// runChurn runs receivers, publishers and the churn until ctx ends.
func runChurn(ctx context.Context, cfg *churnConfig, out io.Writer) *churnStats {
	st := &churnStats{}
	rs := make([]*churnReceiver, cfg.clients)
	var wg sync.WaitGroup
	for i := range rs {
		rs[i] = &churnReceiver{cfg: cfg, st: st, i: i, room: fmt.Sprintf("%s-r%d", cfg.prefix, i%cfg.rooms)}
		wg.Go(func() { rs[i].run(ctx) })
	}
	for p := range cfg.pubs {
		wg.Go(func() { churnPublisher(ctx, cfg, st, p) })
	}
	wg.Go(func() { churnCloser(ctx, cfg, rs) })
	report := time.NewTicker(cfg.every)
	defer report.Stop()
	start, last := time.Now(), int64(0)
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-report.C:
			d := st.delivered.Load()
			fmt.Fprintf(out, "t=%.0fs deliveries/s %.0f connected %d reconnects %d lost %d dups %d recovered %d unrecoverable %d publish_errors %d\n",
				time.Since(start).Seconds(), float64(d-last)/cfg.every.Seconds(), st.connected.Load(), st.reconnects.Load(),
				st.lost.Load(), st.dups.Load(), st.recovered.Load(), st.unrecovered.Load(), st.pubErrs.Load())
			last = d
		}
	}
	wg.Wait()
	return st
}

// churnReceiver is one receiver: it stays in its room across reconnects.
type churnReceiver struct {
	cfg  *churnConfig
	st   *churnStats
	i    int
	room string

	mu sync.Mutex
	ws *websocket.Conn // the current socket, for the closer

	offset int64  // last offset seen
	epoch  string // the room's epoch; "" until a join or message told it
}

func (r *churnReceiver) run(ctx context.Context) {
	tok, err := r.cfg.mint(fmt.Sprintf("%s-u%d", r.cfg.prefix, r.i))
	if err != nil {
		return
	}
	for n := r.i; ctx.Err() == nil; n++ {
		if err := r.session(ctx, r.cfg.urls[n%len(r.cfg.urls)], tok); err != nil {
			sleepCtx(ctx, 100*time.Millisecond+rand.N(200*time.Millisecond)) // a node restarting: next one
		}
	}
}

// close closes the current socket abruptly (no close frame), as a dropped
// network would.
func (r *churnReceiver) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ws != nil {
		_ = r.ws.UnderlyingConn().Close()
	}
}

// session connects once, joins with since when it has an offset, and reads
// until the socket ends.
func (r *churnReceiver) session(ctx context.Context, url, tok string) error {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.DialContext(ctx, url, nil)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.ws = ws
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.ws = nil
		r.mu.Unlock()
		_ = ws.Close()
	}()
	stopOnCancel := context.AfterFunc(ctx, func() { _ = ws.Close() })
	defer stopOnCancel()
	join := map[string]any{"type": "join", "room": r.room}
	if r.epoch != "" {
		join["since"] = map[string]any{"offset": r.offset, "epoch": r.epoch}
	}
	for _, req := range []map[string]any{{"type": "auth", "token": tok}, join} {
		if err := ws.WriteJSON(req); err != nil {
			return err
		}
	}
	joined := false
	for {
		_ = ws.SetReadDeadline(time.Now().Add(time.Minute))
		_, b, err := ws.ReadMessage()
		if err != nil {
			if joined {
				r.st.connected.Add(-1)
			}
			return err
		}
		var f churnFrame
		if json.Unmarshal(b, &f) != nil {
			continue
		}
		switch f.Type {
		case "error":
			return fmt.Errorf("error frame %s", f.Code)
		case "joined":
			joined = true
			r.st.connected.Add(1)
			r.onJoined(f)
		case "message":
			if f.Room == r.room {
				r.onMessage(f)
			}
		}
	}
}

type churnFrame struct {
	Type      string `json:"type"`
	Code      string `json:"code"`
	Room      string `json:"room"`
	Offset    int64  `json:"offset"`
	Epoch     string `json:"epoch"`
	Recovered *bool  `json:"recovered"`
}

func (r *churnReceiver) onJoined(f churnFrame) {
	switch {
	case r.epoch == "" || f.Recovered == nil: // first join, or no history yet
		r.offset, r.epoch = f.Offset, f.Epoch
	case *f.Recovered:
		r.st.recovered.Add(1)
		r.st.reconnects.Add(1)
	default: // the gap cannot be replayed: counted apart, start again from here
		r.st.unrecovered.Add(1)
		r.st.reconnects.Add(1)
		r.offset, r.epoch = f.Offset, f.Epoch
	}
}

func (r *churnReceiver) onMessage(f churnFrame) {
	if r.epoch == "" {
		// Joined before the room had history: its first message tells the
		// epoch, so that the next join can ask to recover.
		r.epoch = f.Epoch
	}
	switch {
	case f.Epoch != r.epoch && r.epoch != "":
		r.st.unrecovered.Add(1) // Redis lost the room's history: a new epoch
		r.offset, r.epoch = f.Offset, f.Epoch
	case f.Offset <= r.offset:
		r.st.dups.Add(1)
		return
	case f.Offset > r.offset+1:
		r.st.lost.Add(f.Offset - r.offset - 1)
	}
	r.offset = f.Offset
	r.st.delivered.Add(1)
}

// churnPublisher sends to the rooms round-robin, its share of the rate,
// reconnecting whenever its socket fails.
func churnPublisher(ctx context.Context, cfg *churnConfig, st *churnStats, p int) {
	perRoom := float64(cfg.clients) / float64(cfg.rooms)
	every := time.Duration(float64(time.Second) * float64(cfg.pubs) * perRoom / cfg.rate)
	tok, err := cfg.mint(fmt.Sprintf("%s-p%d", cfg.prefix, p))
	if err != nil {
		return
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	seq := 0
	for n := p; ctx.Err() == nil; n++ {
		d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
		ws, _, err := d.DialContext(ctx, cfg.urls[n%len(cfg.urls)], nil)
		if err != nil {
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		mine, err := churnJoinAll(ws, cfg, tok, p)
		if err != nil {
			st.pubErrs.Add(1)
			_ = ws.Close()
			sleepCtx(ctx, 200*time.Millisecond)
			continue
		}
		go func() { // drain what the node sends (acks, errors, pings)
			for {
				if _, b, err := ws.ReadMessage(); err != nil {
					_ = ws.Close() // the next write fails: reconnect
					return
				} else if strings.Contains(string(b), `"type":"error"`) {
					st.pubErrs.Add(1)
				}
			}
		}()
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-tick.C:
			}
			room := mine[seq%len(mine)]
			seq++
			if ws.WriteJSON(map[string]any{"type": "message", "room": room, "data": seq, "echo": false}) != nil {
				break
			}
		}
		_ = ws.Close()
	}
}

// churnJoinAll authenticates publisher p and joins its rooms (p, p+pubs,
// ...: a member may publish, others may not), and returns them.
func churnJoinAll(ws *websocket.Conn, cfg *churnConfig, tok string, p int) ([]string, error) {
	var mine []string
	for r := p % cfg.rooms; r < cfg.rooms; r += cfg.pubs {
		mine = append(mine, fmt.Sprintf("%s-r%d", cfg.prefix, r))
	}
	if err := ws.WriteJSON(map[string]any{"type": "auth", "token": tok}); err != nil {
		return nil, err
	}
	for _, room := range mine {
		if err := ws.WriteJSON(map[string]any{"type": "join", "room": room}); err != nil {
			return nil, err
		}
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer ws.SetReadDeadline(time.Time{})
	for joined := 0; joined < len(mine); {
		var f churnFrame
		if err := ws.ReadJSON(&f); err != nil {
			return nil, err
		}
		switch f.Type {
		case "joined":
			joined++
		case "error":
			return nil, fmt.Errorf("publisher %d: error %s", p, f.Code)
		}
	}
	return mine, nil
}

// churnCloser closes a random receiver's socket cfg.reconnects times per
// second.
func churnCloser(ctx context.Context, cfg *churnConfig, rs []*churnReceiver) {
	if cfg.reconnects <= 0 {
		return
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / cfg.reconnects))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			rs[rand.IntN(len(rs))].close()
		}
	}
}
