package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// workerEnv marks a process started by the coordinator as a worker.
const workerEnv = "WSBENCH_WORKER"

// Control message kinds. Coordinator to worker: init, go, exit. Worker to
// coordinator: ready, result, error.
const (
	kindInit   = "init"
	kindReady  = "ready"
	kindGo     = "go"
	kindResult = "result"
	kindExit   = "exit"
	kindError  = "error"
)

// ctlMsg is one line of the coordinator/worker protocol, JSON over the
// worker's stdin and stdout.
type ctlMsg struct {
	Kind   string        `json:"kind"`
	Worker int           `json:"worker"`
	Config *Config       `json:"config,omitempty"`
	Secret string        `json:"secret,omitempty"`
	Start  int64         `json:"start,omitempty"` // go: unix ns
	Result *WorkerResult `json:"result,omitempty"`
	Err    string        `json:"err,omitempty"`
}

// workerMain is the whole life of a worker: init, set up, report ready,
// wait for go, run, report the result, wait for exit, tear down. When its
// input ends (the coordinator died or gave up) it stops at once.
func workerMain(in io.Reader, out io.Writer, logw io.Writer) int {
	dec, enc := json.NewDecoder(in), json.NewEncoder(out)
	var m ctlMsg
	if err := dec.Decode(&m); err != nil || m.Kind != kindInit || m.Config == nil {
		fmt.Fprintf(logw, "wsbench worker: bad init message: %v\n", err)
		return 2
	}
	cfg := m.Config
	cfg.Secret = m.Secret
	w, err := newWorker(cfg, m.Worker, logw)
	if err != nil {
		enc.Encode(ctlMsg{Kind: kindError, Worker: m.Worker, Err: err.Error()})
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msgs := readControl(dec, cancel)
	defer w.teardown()
	w.setup(ctx)
	if err := enc.Encode(ctlMsg{Kind: kindReady, Worker: w.id, Result: w.progress()}); err != nil {
		return 1
	}
	start, ok := <-msgs
	if !ok || start.Kind != kindGo {
		return 1 // coordinator gone or aborted
	}
	stopProfile := startProfile(cfg.CPUProfile, w.id, logw)
	res := w.run(ctx, start.Start)
	stopProfile()
	if ctx.Err() != nil {
		return 1
	}
	if err := enc.Encode(ctlMsg{Kind: kindResult, Worker: w.id, Result: res}); err != nil {
		return 1
	}
	<-msgs // exit, or EOF when the coordinator dies
	return 0
}

// readControl decodes control messages in the background; when the input
// ends it cancels the worker and closes the channel.
func readControl(dec *json.Decoder, cancel context.CancelFunc) <-chan ctlMsg {
	msgs := make(chan ctlMsg, 4)
	go func() {
		defer close(msgs)
		defer cancel()
		for {
			var m ctlMsg
			if dec.Decode(&m) != nil {
				return
			}
			select {
			case msgs <- m:
			default: // the protocol never has more than one message in flight
			}
		}
	}()
	return msgs
}

// startProfile starts a CPU profile into path.<worker> when path is set and
// returns the function that stops it.
func startProfile(path string, worker int, logw io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", path, worker))
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(logw, "wsbench worker %d: cpu profile: %v\n", worker, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
