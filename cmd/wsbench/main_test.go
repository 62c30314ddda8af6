package main

import (
	"encoding/json"
	"io"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain doubles as the worker entry point: the exec launcher re-executes
// the test binary with WSBENCH_WORKER=1, exactly like the real binary.
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(workerMain(os.Stdin, os.Stdout, os.Stderr))
	}
	if os.Getenv(stormChildEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}

// pipeLink runs a worker in a goroutine of the test process.
type pipeLink struct {
	toW   *io.PipeWriter
	fromW *io.PipeReader
	enc   *json.Encoder
	dec   *json.Decoder
	done  chan int
}

func inprocLauncher() launcher {
	return func(int) (workerLink, error) {
		cr, cw := io.Pipe()
		wr, ww := io.Pipe()
		l := &pipeLink{toW: cw, fromW: wr, enc: json.NewEncoder(cw), dec: json.NewDecoder(wr), done: make(chan int, 1)}
		go func() {
			code := workerMain(cr, ww, io.Discard)
			ww.Close()
			cr.Close()
			l.done <- code
		}()
		return l, nil
	}
}

func (l *pipeLink) Send(m ctlMsg) error { return l.enc.Encode(m) }

func (l *pipeLink) Recv() (ctlMsg, error) {
	var m ctlMsg
	err := l.dec.Decode(&m)
	return m, err
}

func (l *pipeLink) Close() error {
	l.toW.Close()
	<-l.done
	return nil
}

func (l *pipeLink) Kill() {
	l.toW.Close()
	l.fromW.Close()
}
