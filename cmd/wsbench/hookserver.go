package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

// hookserverMain is a stand-in backend for --rooms-policy hook benchmarks:
// it allows every join after -delay (the backend's own work) and prints how
// many it answered when stopped.
//
//	wsbench hookserver -addr 127.0.0.1:9400 -delay 1ms
func hookserverMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench hookserver", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	delay := fs.Duration("delay", time.Millisecond, "time each decision takes")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench hookserver:", err)
		return 1
	}
	var answered atomic.Int64
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
		time.Sleep(*delay)
		answered.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})}
	fmt.Fprintf(stdout, "hookserver: http://%s/join\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(stderr, "wsbench hookserver:", err)
		return 1
	}
	fmt.Fprintf(stdout, "hookserver: %d joins answered\n", answered.Load())
	return 0
}
