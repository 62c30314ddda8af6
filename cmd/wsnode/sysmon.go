package main

import (
	"strings"
)

// The Go runtime's monitor thread, sysmon, parks itself whenever it finds
// every P idle, and the next system call of any goroutine wakes it again
// with a futex (runtime.entersyscallWakeSysmon). A node between messages is
// idle for most of each millisecond, so at a few thousand messages per
// second it pays that wake-up at almost every message: on the 2-core VM of
// bench/analysis.md, avoiding it cut a node's CPU per message in the
// small-rooms scenario by 44 %.
//
// Any schedtrace period > 0 in GODEBUG keeps sysmon from parking; it then
// sleeps in steps of at most 10 ms while the process is idle, about 100
// short wake-ups a second. The runtime reads GODEBUG only when the process
// starts, so a serving wsnode re-executes itself once, before it starts
// anything, with the setting added (--sysmon-awake, default on). The period
// is the largest the runtime accepts (2^31-1 ms, 24.8 days), so that it
// never prints a trace on a host whose monotonic clock (time since boot) is
// below that; on a host up for longer, the runtime writes one "SCHED ..."
// line to stderr at start and one every 24.8 days.
const sysmonGODEBUG = "schedtrace=2147483647"

// sysmonEnv returns env with sysmonGODEBUG added to GODEBUG, and whether
// anything was added: it adds nothing when GODEBUG already sets schedtrace
// (an operator's own value wins, and the re-executed process finds its own
// setting there, so it never executes itself again).
func sysmonEnv(env []string) ([]string, bool) {
	out := make([]string, 0, len(env)+1)
	godebug := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v
			continue
		}
		out = append(out, kv)
	}
	for _, setting := range strings.Split(godebug, ",") {
		if k, _, _ := strings.Cut(strings.TrimSpace(setting), "="); k == "schedtrace" {
			return env, false
		}
	}
	if godebug != "" {
		return append(out, "GODEBUG="+godebug+","+sysmonGODEBUG), true
	}
	return append(out, "GODEBUG="+sysmonGODEBUG), true
}

// execSelf replaces the process with a fresh run of its own binary, with the
// same arguments and env as its environment (the PID stays the same); it
// returns only on failure. main sets it; it is nil when the program runs
// in-process (the tests), which then never re-execute.
var execSelf func(env []string) error
