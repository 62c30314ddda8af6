package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/wsnode/wsnode/auth"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/server"
)

// devSecret signs tokens when no secret is configured in embedded mode, so
// "wsnode" and "wsnode token" work together out of the box on one machine.
const devSecret = "wsnode-dev-secret-do-not-use-in-production"

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// serve runs a node until ctx is done; after -h or --help it returns
// flag.ErrHelp. An error of Run is written to the node's log, so that
// --log-format json output stays JSON to the last line, and returned as a
// loggedError.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	m := &Main{Stdout: stdout, Stderr: stderr}
	if err := m.ParseFlags(args, os.LookupEnv); err != nil {
		return err
	}
	m.keepSysmonAwake()
	if err := m.Run(ctx); err != nil {
		m.log.Error("exiting", "err", err)
		return loggedError{err}
	}
	return nil
}

// Main is the serving program as a testable type: ParseFlags, then Run.
type Main struct {
	Stdout, Stderr io.Writer
	// Ready, if set, is called once both listeners are bound, with their addresses.
	Ready func(clientAddr, adminAddr string)

	opts       options
	log        *slog.Logger
	secretFrom string // secretNone, secretEnv or secretFlag, for the token hint
}

// ParseFlags reads args and the environment. After -h or --help it has
// printed the usage and returns flag.ErrHelp.
func (m *Main) ParseFlags(args []string, getenv func(string) (string, bool)) error {
	fs := newFlagSet(&m.opts)
	fs.SetOutput(m.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(m.Stderr, "usage: wsnode [flags]\n       wsnode token --user NAME [--type user|ai_assistant|system] [--ttl 1h]\n\nEvery flag has an env twin: --redis-url is WS_REDIS_URL, and so on.\n\n")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args, getenv); err != nil {
		return err
	}
	if m.opts.jwtSecret != "" {
		m.secretFrom = secretEnv
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "jwt-secret" {
				m.secretFrom = secretFlag
			}
		})
	}
	if err := m.opts.finish(); err != nil {
		return err
	}
	l, err := newLogger(m.Stderr, m.opts.logLevel, m.opts.logFormat)
	if err != nil {
		return err
	}
	m.log = l
	return nil
}

// keepSysmonAwake re-executes the process with sysmonGODEBUG (sysmon.go)
// when --sysmon-awake is on, GODEBUG does not set schedtrace yet and the
// program runs as a process (execSelf set). It returns only when nothing is
// to be done or the exec failed; then the node runs on without it.
func (m *Main) keepSysmonAwake() {
	if execSelf == nil || !m.opts.sysmonAwake {
		return
	}
	env, add := sysmonEnv(os.Environ())
	if !add {
		return
	}
	err := execSelf(env)
	m.log.Warn("running with the Go runtime's default sysmon; set GODEBUG="+sysmonGODEBUG+" to save the CPU of its wake-ups", "err", err)
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	o := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, o)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, not %q", format)
}

// Run serves until ctx is cancelled (SIGINT/SIGTERM), then drains within
// --shutdown-timeout and returns nil on a clean drain.
func (m *Main) Run(ctx context.Context) error {
	o := &m.opts
	uuid.EnableRandPool()
	defer routeRedisLogs(m.log)()
	rdb, cleanupRedis, err := m.redisClient(ctx)
	if err != nil {
		return err
	}
	defer cleanupRedis()
	if err := m.checkAdminExposure(); err != nil {
		return err
	}
	verifier, err := m.verifier()
	if err != nil {
		return err
	}
	cfg := o.cfg
	cfg.Node.Verifier, cfg.Node.Version, cfg.Logger = verifier, version, m.log
	if cfg.Node.RoomsPolicy == node.RoomsOpen {
		m.log.Warn("--rooms-policy open: every authenticated connection may join any room; " +
			"use claim (the token's rooms claim) or hook (ask your backend) to restrict joins")
	}
	srv, err := server.New(rdb, cfg)
	if err != nil {
		return o.flagError(err)
	}
	return m.serve(ctx, srv)
}

func (m *Main) checkAdminExposure() error {
	if m.opts.cfg.AdminKey != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(m.opts.adminAddr)
	if err != nil {
		return fmt.Errorf("--admin-addr: %w", err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--admin-addr %s is not a loopback address: set --admin-key (WS_ADMIN_KEY)", m.opts.adminAddr)
}

func (m *Main) verifier() (*auth.Verifier, error) {
	secret := m.opts.jwtSecret
	if secret == "" {
		if m.opts.redisURL != "" {
			return nil, errors.New("--jwt-secret (WS_JWT_SECRET) is required with --redis-url")
		}
		m.log.Warn("no --jwt-secret: using the built-in development secret; never do this in production")
		secret = devSecret
	}
	return auth.NewVerifier(m.opts.jwtLeeway, secret, m.opts.jwtSecretPrev)
}

func (m *Main) serve(ctx context.Context, srv *server.Server) error {
	// No TCP keep-alive on WebSocket sockets: the node's pings
	// (--ping-interval, --pong-timeout) already find dead peers, and Go's
	// default keep-alive costs four setsockopt calls per accepted socket.
	wsl := net.ListenConfig{KeepAlive: -1}
	cl, err := wsl.Listen(ctx, "tcp", m.opts.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", m.opts.addr, err)
	}
	al, err := net.Listen("tcp", m.opts.adminAddr)
	if err != nil {
		_ = cl.Close()
		return fmt.Errorf("listen %s: %w", m.opts.adminAddr, err)
	}
	client, adm := newHTTPServer(srv.ClientHandler()), newHTTPServer(srv.AdminHandler())
	errc := make(chan error, 3)
	// Not ctx: on SIGTERM the loops (stats flush, heartbeat, pub/sub) must
	// keep running through the drain; srv.Shutdown stops them afterwards.
	go func() { errc <- srv.Run(context.WithoutCancel(ctx)) }()
	go func() { errc <- client.Serve(cl) }()
	go func() { errc <- adm.Serve(al) }()
	m.log.Info("wsnode serving", "node_id", m.opts.nodeID, "ws", "ws://"+displayAddr(cl.Addr())+"/ws",
		"demo", "http://"+displayAddr(cl.Addr())+"/", "admin", "http://"+al.Addr().String(),
		"token", tokenHint(progCommand(), m.secretFrom))
	if m.secretFrom == secretFlag {
		m.log.Info("the token command takes the secret from $" + envName("jwt-secret") + ": set it to the value of --jwt-secret, " +
			"which is not logged; better, give the node its secret in that variable, as command lines are visible to every local user")
	}
	if m.Ready != nil {
		m.Ready(cl.Addr().String(), al.Addr().String())
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	return errors.Join(runErr, m.shutdown(srv, client, adm))
}

// shutdown: readiness turns 503 and sockets get 1001 at once (srv.Shutdown),
// the client listener stops accepting, and the admin API stays up until the
// node has removed its entries from Redis.
func (m *Main) shutdown(srv *server.Server, client, adm *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.shutdownTimeout)
	defer cancel()
	m.log.Info("draining")
	cerr := make(chan error, 1)
	go func() { cerr <- client.Shutdown(ctx) }()
	err := srv.Shutdown(ctx)
	err = errors.Join(err, <-cerr, adm.Shutdown(ctx))
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	m.log.Info("stopped cleanly")
	return nil
}

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

func displayAddr(a net.Addr) string {
	s := a.String()
	if strings.HasPrefix(s, "[::]:") || strings.HasPrefix(s, "0.0.0.0:") {
		return "localhost" + s[strings.LastIndex(s, ":"):]
	}
	return s
}
