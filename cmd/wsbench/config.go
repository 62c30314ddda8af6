package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// Scenario names.
const (
	scIdle    = "idle"
	scConnect = "connect"
	scRooms   = "rooms"
	scDirect  = "direct"
)

// Config is one wsbench run. The coordinator parses it from flags and hands
// it unchanged (as JSON) to every worker process.
type Config struct {
	Scenario    string        `json:"scenario"`
	URLs        []string      `json:"urls"`
	Secret      string        `json:"-"`
	Conns       int           `json:"conns"`
	Rooms       int           `json:"rooms"`
	Members     int           `json:"members"`
	Pubs        int           `json:"pubs"`
	Rate        float64       `json:"rate"`
	Duration    time.Duration `json:"duration"`
	Warmup      time.Duration `json:"warmup"`
	Drain       time.Duration `json:"drain"`
	Settle      time.Duration `json:"settle"`
	Payload     int           `json:"payload"`
	Concurrency int           `json:"concurrency"`
	Procs       int           `json:"procs"`
	MaxPerProc  int           `json:"max_per_proc"`
	SrcAddrs    []string      `json:"src_addrs"`
	PIDs        []int         `json:"pids,omitempty"`
	RedisURL    string        `json:"redis_url,omitempty"`
	Prefix      string        `json:"prefix"`
	Timeout     time.Duration `json:"timeout"`
	PubJoin     bool          `json:"pub_join"`
	NoJoin      bool          `json:"no_join,omitempty"`
	Admins      []string      `json:"admins,omitempty"`
	Label       string        `json:"label,omitempty"`
	CPUProfile  string        `json:"cpu_profile,omitempty"`
	Out         string        `json:"-"`
	Strict      bool          `json:"-"`
	Verbose     bool          `json:"verbose,omitempty"` // workers get the Config as JSON
}

// parseFlags builds a Config from command-line arguments.
func parseFlags(args []string, stderr io.Writer) (*Config, error) {
	c := &Config{}
	fs := flag.NewFlagSet("wsbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var urls, src, pids string
	var srcCount int
	var admins string
	fs.StringVar(&c.Scenario, "scenario", scRooms, "idle | connect | rooms | direct")
	fs.StringVar(&urls, "urls", "ws://127.0.0.1:8080/ws", "comma-separated node URLs; connections are spread round-robin")
	fs.StringVar(&c.Secret, "secret", "", "HS256 JWT secret shared with the nodes (or env WS_JWT_SECRET)")
	fs.IntVar(&c.Conns, "conns", 3000, "idle/connect: total connections; direct: receivers (one user each)")
	fs.IntVar(&c.Rooms, "rooms", 30, "rooms: number of rooms")
	fs.IntVar(&c.Members, "members", 100, "rooms: receivers per room (idle/connect: connections per room)")
	fs.IntVar(&c.Pubs, "pubs", 1, "rooms: publishers per room; direct: total senders (default 30 for direct)")
	fs.Float64Var(&c.Rate, "rate", 10000, "offered deliveries per second (rooms, direct)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "measurement window (rooms, direct)")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "publishing before the window, not measured")
	fs.DurationVar(&c.Drain, "drain", 3*time.Second, "longest wait for late deliveries after the window")
	fs.DurationVar(&c.Settle, "settle", 3*time.Second, "idle: wait before sampling RSS")
	fs.IntVar(&c.Payload, "payload", 128, "size in bytes of the message's data value")
	fs.IntVar(&c.Concurrency, "concurrency", 64, "dials in flight, over all workers")
	fs.IntVar(&c.Procs, "procs", 0, "worker processes (0: enough for -max-per-proc)")
	fs.IntVar(&c.MaxPerProc, "max-per-proc", 15000, "most sockets one worker may hold (open-files limit)")
	fs.StringVar(&src, "src", "", "comma-separated local source IPs to dial from")
	fs.IntVar(&srcCount, "src-count", 1, "dial from 127.0.0.1..127.0.0.N when -src is empty")
	fs.StringVar(&pids, "pids", "", "comma-separated node PIDs, in -urls order, for CPU and RSS")
	fs.StringVar(&admins, "admins", "", "comma-separated node admin base URLs, in -urls order, for goroutine counts (GET /metrics)")
	fs.StringVar(&c.RedisURL, "redis-url", "", "Redis to read INFO commandstats from")
	fs.StringVar(&c.Prefix, "prefix", "", "user/room name prefix (default: wb + random)")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-step timeout while connecting")
	fs.BoolVar(&c.PubJoin, "pub-join", true, "rooms: publishers join their room (and send echo:false)")
	fs.BoolVar(&c.NoJoin, "no-join", false, "idle/connect: connections authenticate but join no room")
	fs.StringVar(&c.Label, "label", "", "free text stored with the result")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write each worker's CPU profile of the measured part to FILE.<worker>")
	fs.StringVar(&c.Out, "out", "", "write the merged JSON result here")
	fs.BoolVar(&c.Strict, "strict", false, "exit 1 on any failure, loss, duplicate or zero deliveries")
	fs.BoolVar(&c.Verbose, "v", false, "log progress to stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if c.Scenario == scDirect && !flagSet(fs, "pubs") {
		c.Pubs = 30
	}
	c.URLs = splitList(urls)
	c.Admins = splitList(admins)
	c.SrcAddrs = splitList(src)
	if len(c.SrcAddrs) == 0 {
		c.SrcAddrs = loopbackAddrs(srcCount)
	}
	var err error
	if c.PIDs, err = parseInts(pids); err != nil {
		return nil, fmt.Errorf("-pids: %w", err)
	}
	c.applyDefaults()
	return c, c.Validate()
}

func (c *Config) applyDefaults() {
	if c.Secret == "" {
		c.Secret = envOr("WS_JWT_SECRET", "")
	}
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("wb%04x", rand.IntN(1<<16))
	}
	if c.Procs <= 0 {
		c.Procs = max(1, (c.Sockets()+c.MaxPerProc-1)/c.MaxPerProc)
	}
}

// Validate checks the configuration for contradictions.
func (c *Config) Validate() error {
	switch c.Scenario {
	case scIdle, scConnect, scRooms, scDirect:
	default:
		return fmt.Errorf("unknown scenario %q", c.Scenario)
	}
	switch {
	case len(c.URLs) == 0:
		return errors.New("no -urls")
	case c.Secret == "":
		return errors.New("no -secret (or WS_JWT_SECRET)")
	case len(c.Admins) > 0 && len(c.Admins) != len(c.URLs):
		return errors.New("-admins must list one admin URL per -urls entry")
	case len(c.PIDs) > 0 && len(c.PIDs) != len(c.URLs):
		return errors.New("-pids must list one PID per URL")
	case c.Members <= 0 || c.Rooms <= 0 || c.Pubs <= 0 || c.Conns <= 0:
		return errors.New("-conns, -rooms, -members and -pubs must be positive")
	case c.Concurrency <= 0 || c.Payload < 0:
		return errors.New("-concurrency must be positive and -payload not negative")
	case c.publishes() && (c.Rate <= 0 || c.Duration <= 0):
		return errors.New("-rate and -duration must be positive")
	}
	if per := (c.Sockets() + c.Procs - 1) / c.Procs; per > c.MaxPerProc {
		return fmt.Errorf("%d sockets per worker exceeds -max-per-proc %d; raise -procs", per, c.MaxPerProc)
	}
	return nil
}

func (c *Config) publishes() bool { return c.Scenario == scRooms || c.Scenario == scDirect }

// Receivers is the number of receiving (or idle/connecting) connections.
func (c *Config) Receivers() int {
	if c.Scenario == scRooms {
		return c.Rooms * c.Members
	}
	return c.Conns
}

// Publishers is the number of sending connections.
func (c *Config) Publishers() int {
	switch c.Scenario {
	case scRooms:
		return c.Rooms * c.Pubs
	case scDirect:
		return c.Pubs
	}
	return 0
}

// Sockets is the number of connections the run opens at once.
func (c *Config) Sockets() int { return c.Receivers() + c.Publishers() }

// Targets is the number of delivery targets: rooms, or receiver users.
func (c *Config) Targets() int {
	if c.Scenario == scRooms {
		return c.Rooms
	}
	return c.Receivers()
}

// Fanout is the number of receivers one message is meant for.
func (c *Config) Fanout() int {
	if c.Scenario == scRooms {
		return c.Members
	}
	return 1
}

func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range splitList(s) {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// loopbackAddrs returns 127.0.0.1 .. 127.0.0.n.
func loopbackAddrs(n int) []string {
	out := make([]string, 0, max(n, 1))
	for i := 1; i <= max(n, 1); i++ {
		out = append(out, fmt.Sprintf("127.0.0.%d", i))
	}
	return out
}
