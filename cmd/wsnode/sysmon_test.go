package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSysmonEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		want []string // nil: nothing added, env comes back as it was
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + sysmonGODEBUG}},
		{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"A=1", "GODEBUG=" + sysmonGODEBUG}},
		{"other settings kept", []string{"GODEBUG=gctrace=1", "A=1"}, []string{"A=1", "GODEBUG=gctrace=1," + sysmonGODEBUG}},
		{"operator's schedtrace wins", []string{"GODEBUG=gctrace=1,schedtrace=0"}, nil},
		{"already set by an earlier exec", []string{"GODEBUG=" + sysmonGODEBUG}, nil},
		{"spaces around a setting", []string{"GODEBUG=gctrace=1, schedtrace=5"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, added := sysmonEnv(slices.Clone(tc.env))
			if tc.want == nil {
				if added || !slices.Equal(got, tc.env) {
					t.Fatalf("sysmonEnv(%q) = %q, %v; want it unchanged, false", tc.env, got, added)
				}
				return
			}
			if !added || !slices.Equal(got, tc.want) {
				t.Fatalf("sysmonEnv(%q) = %q, %v; want %q, true", tc.env, got, added, tc.want)
			}
		})
	}
}

// TestServeKeepsSysmonAwake runs the real binary: a serving node has
// re-executed itself with sysmonGODEBUG in its environment (same PID); with
// --sysmon-awake=false, or when GODEBUG already sets schedtrace, it has not.
func TestServeKeepsSysmonAwake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/PID/environ")
	}
	for _, tc := range []struct {
		name    string
		args    []string
		godebug string // GODEBUG given to the process; "" = none
		want    string // GODEBUG the serving process has; "" = none
	}{
		{"default", nil, "", sysmonGODEBUG},
		{"other settings kept", nil, "madvdontneed=1", "madvdontneed=1," + sysmonGODEBUG},
		{"flag off", []string{"--sysmon-awake=false"}, "", ""},
		{"operator's schedtrace", nil, "schedtrace=0", "schedtrace=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--shutdown-timeout", "1s"}, tc.args...)
			cmd := mainCmd(t, args...)
			cmd.Env = slices.DeleteFunc(cmd.Env, func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
			cmd.Env = append(cmd.Env, "WS_REDIS_URL=") // embedded Redis
			if tc.godebug != "" {
				cmd.Env = append(cmd.Env, "GODEBUG="+tc.godebug)
			}
			out, err := cmd.StderrPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			serving := make(chan string, 1)
			go func() {
				var seen []string
				sc := bufio.NewScanner(out)
				for sc.Scan() {
					seen = append(seen, sc.Text())
					if strings.Contains(sc.Text(), "wsnode serving") {
						serving <- ""
						for sc.Scan() { // keep draining until the process exits
						}
						return
					}
				}
				serving <- strings.Join(seen, "\n")
			}()
			defer func() {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}()
			select {
			case lines := <-serving:
				if lines != "" {
					t.Fatalf("the node exited before serving:\n%s", lines)
				}
			case <-time.After(30 * time.Second):
				t.Fatal("the node did not serve within 30 s")
			}
			environ, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			for _, kv := range bytes.Split(environ, []byte{0}) {
				if v, ok := bytes.CutPrefix(kv, []byte("GODEBUG=")); ok {
					got = string(v)
				}
			}
			if got != tc.want {
				t.Fatalf("serving process (pid %d) has GODEBUG=%q, want %q", pid, got, tc.want)
			}
		})
	}
}
