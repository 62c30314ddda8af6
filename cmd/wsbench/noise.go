package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/wsnode/wsnode/auth"
)

// noiseMain is "wsbench noise": -clients sockets on one node that send
// malformed frames as fast as the node takes them, the abuse of the
// noisy-neighbour benchmark (bench/noisy.sh). Each client authenticates,
// then writes, round robin, pre-masked frames of the kinds in noiseFrames
// (bad JSON, an unknown type, an oversized id, an invalid room name, a
// 60 KB message to a room it is not in, a binary frame). It reads and
// drops whatever the node sends, and dials again only when a write fails:
// a node that has closed it but still reads keeps it writing. It runs
// until -duration has passed or it is interrupted, then prints what it
// sent to stdout.
func noiseMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench noise", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "", "ws:// URL of the node to make noise on")
	secret := fs.String("secret", "", "the nodes' JWT secret (the clients authenticate first)")
	clients := fs.Int("clients", 50, "noisy sockets")
	duration := fs.Duration("duration", 0, "how long to make noise (0 = until interrupted)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *url == "" || *secret == "" || *clients < 1 {
		fmt.Fprintln(stderr, "usage: wsbench noise -url ws://... -secret S [-clients 50] [-duration 0]")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	v, err := auth.NewVerifier(0, *secret)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench noise:", err)
		return 2
	}
	var st noiseStats
	var wg sync.WaitGroup
	for i := range *clients {
		tok, err := v.Mint(fmt.Sprintf("noisy-%d", i), auth.TypeUser, 24*time.Hour)
		if err != nil {
			fmt.Fprintln(stderr, "wsbench noise:", err)
			return 2
		}
		frames := append([][]byte{maskedFrame(websocket.TextMessage, []byte(`{"type":"auth","token":"`+tok+`"}`))}, noiseFrames()...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			noisyClient(ctx, *url, frames, &st)
		}()
	}
	wg.Wait()
	fmt.Fprintf(stdout, "noise: %d clients, %d connections, %d frames (%d MB) written, %d dial errors\n",
		*clients, st.conns.Load(), st.frames.Load(), st.bytes.Load()>>20, st.dialErrs.Load())
	return 0
}

type noiseStats struct {
	conns, frames, bytes, dialErrs atomic.Int64
}

// noiseFrames are the malformed frames a noisy client cycles through.
func noiseFrames() [][]byte {
	text := func(s string) []byte { return maskedFrame(websocket.TextMessage, []byte(s)) }
	return [][]byte{
		text(`{"type":"message","room":"lobby","data":{"x":[1,2,`),                                  // bad JSON
		text(`{"type":"frobnicate","id":1}`),                                                        // unknown type
		text(`{"type":"ping","id":"` + strings.Repeat("i", 4096) + `"}`),                            // id over 128 bytes
		text(`{"type":"join","id":2,"room":"no spaces or slashes / allowed here"}`),                 // invalid name
		text(`{"type":"message","room":"not-joined","data":"` + strings.Repeat("x", 60<<10) + `"}`), // 60 KB
		maskedFrame(websocket.BinaryMessage, make([]byte, 1024)),                                    // binary
	}
}

// noisyClient keeps one noisy socket open: it dials, writes frames[0] (the
// auth frame) and then the others round robin until a write fails, and
// dials again, until ctx ends.
func noisyClient(ctx context.Context, url string, frames [][]byte, st *noiseStats) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	for ctx.Err() == nil {
		ws, _, err := d.DialContext(ctx, url, nil)
		if err != nil {
			st.dialErrs.Add(1)
			sleepCtx(ctx, 100*time.Millisecond) // a refused dial (e.g. the per-IP cap) is retried, not spun on
			continue
		}
		st.conns.Add(1)
		nc := ws.NetConn()
		stop := context.AfterFunc(ctx, func() { _ = nc.Close() })
		go func() { _, _ = io.Copy(io.Discard, nc) }() // the node's answers, dropped
		for i := 0; ; i++ {
			f := frames[0]
			if i > 0 {
				f = frames[1+(i-1)%(len(frames)-1)]
			}
			if _, err := nc.Write(f); err != nil {
				break
			}
			st.frames.Add(1)
			st.bytes.Add(int64(len(f)))
		}
		stop()
		_ = nc.Close()
	}
}

// maskedFrame is a whole client frame (FIN set) of type op with a fixed
// masking key, built once so that writing it costs only the write.
func maskedFrame(op int, payload []byte) []byte {
	key := [4]byte{0x5a, 0x17, 0xc3, 0x81}
	b := []byte{0x80 | byte(op)}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	b = append(b, key[:]...)
	for i, p := range payload {
		b = append(b, p^key[i&3])
	}
	return b
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
