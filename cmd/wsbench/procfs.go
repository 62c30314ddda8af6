package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// clockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat;
// it is 100 on every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds is this process's user+system CPU time (getrusage).
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return tvSeconds(ru.Utime) + tvSeconds(ru.Stime)
}

func tvSeconds(tv syscall.Timeval) float64 {
	return float64(tv.Sec) + float64(tv.Usec)/1e6
}

// maxRSSKiB is this process's peak resident set size.
func maxRSSKiB() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return int64(ru.Maxrss)
}

// procRunDelay is the time the threads of pid have spent runnable but
// waiting for a CPU, in seconds: the sum of the second field of
// /proc/<pid>/task/*/schedstat. It is the kernel's run-queue wait, which a
// Go runtime trace cannot see (a goroutine whose thread waits for a CPU
// looks running there). Threads that have exited are not counted.
func procRunDelay(pid int) (float64, error) {
	dir := fmt.Sprintf("/proc/%d/task", pid)
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		v, err := parseRunDelay(b)
		if err != nil {
			return 0, err
		}
		ns += v
	}
	return float64(ns) / 1e9, nil
}

// parseRunDelay reads the run-queue wait (ns) from a schedstat line:
// "time-on-cpu wait-on-runqueue timeslices".
func parseRunDelay(b []byte) (int64, error) {
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, fmt.Errorf("malformed schedstat line %q", b)
	}
	return strconv.ParseInt(f[1], 10, 64)
}

// procCPU reads utime+stime of pid from /proc/<pid>/stat, in seconds.
func procCPU(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(b)
}

// parseStatCPU extracts fields 14 (utime) and 15 (stime) of a stat line.
// The command name (field 2) may contain spaces, so fields are counted
// after its closing parenthesis.
func parseStatCPU(b []byte) (float64, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed stat line")
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		return 0, fmt.Errorf("short stat line")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("bad utime/stime %q %q", f[11], f[12])
	}
	return float64(ut+st) / clockTicks, nil
}

// procRSS reads VmRSS of pid from /proc/<pid>/status, in KiB.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseStatusRSS(b)
}

func parseStatusRSS(b []byte) (int64, error) {
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

// cpuIdle reads /proc/stat: the seconds all CPUs spent idle, in iowait or
// stolen by the hypervisor since boot, and the number of CPUs.
func cpuIdle() (idle float64, cpus int, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseProcStatIdle(b)
}

// parseProcStatIdle sums the idle, iowait and steal fields of the "cpu"
// line and counts the "cpuN" lines. Busy time is then wall time × CPUs
// minus this. Summing the busy fields instead undercounts: user and system
// are sampled at each tick, while idle time is measured when a CPU enters
// and leaves idle, and per-process times (utime, stime) are exact.
func parseProcStatIdle(b []byte) (float64, int, error) {
	var idle int64
	cpus := 0
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		switch {
		case len(f) > 0 && f[0] == "cpu":
			if len(f) < 9 {
				return 0, 0, fmt.Errorf("short cpu line in /proc/stat")
			}
			for _, i := range []int{4, 5, 8} { // idle iowait steal
				n, err := strconv.ParseInt(f[i], 10, 64)
				if err != nil {
					return 0, 0, fmt.Errorf("/proc/stat: %w", err)
				}
				idle += n
			}
		case len(f) > 0 && strings.HasPrefix(f[0], "cpu"):
			cpus++
		}
	}
	if cpus == 0 {
		return 0, 0, fmt.Errorf("malformed /proc/stat")
	}
	return float64(idle) / clockTicks, cpus, nil
}
