package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// workerLink is the coordinator's end of one worker.
type workerLink interface {
	Send(m ctlMsg) error
	Recv() (ctlMsg, error)
	Close() error // ends the worker's input and waits for it to exit; call once
	Kill()        // makes the worker exit now; safe at any time, also concurrently
}

// launcher starts worker number i.
type launcher func(i int) (workerLink, error)

// procLink is a worker running as a child process (this same binary,
// re-executed with WSBENCH_WORKER=1), so that each process stays under the
// per-process open-files limit.
type procLink struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	enc *json.Encoder
	dec *json.Decoder
}

// execLauncher re-executes the current binary as workers; their logs go
// to stderr.
func execLauncher(stderr io.Writer) launcher {
	return func(i int) (workerLink, error) {
		cmd, in, out, err := startSelf(nil, workerEnv+"=1", stderr)
		if err != nil {
			return nil, fmt.Errorf("start worker %d: %w", i, err)
		}
		return &procLink{cmd: cmd, in: in, enc: json.NewEncoder(in), dec: json.NewDecoder(out)}, nil
	}
}

// startSelf starts the current binary with args and env (VAR=value) added
// to this process's environment, its stdin and stdout piped and its stderr
// going to stderr. It is killed when this process dies: a worker or a storm
// child must not outlive a coordinator that was killed.
func startSelf(args []string, env string, stderr io.Writer) (*exec.Cmd, io.WriteCloser, io.ReadCloser, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env)
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, nil, err
	}
	return cmd, in, out, nil
}

func (p *procLink) Send(m ctlMsg) error { return p.enc.Encode(m) }

func (p *procLink) Recv() (ctlMsg, error) {
	var m ctlMsg
	err := p.dec.Decode(&m)
	return m, err
}

func (p *procLink) Close() error {
	p.in.Close()
	return p.cmd.Wait()
}

func (p *procLink) Kill() {
	if p.cmd.Process != nil {
		p.cmd.Process.Kill()
	}
}
