package main

import (
	"os"
	"testing"
)

func TestParseStatCPU(t *testing.T) {
	// Field 2 holds spaces and a ')' to make sure fields are counted from the last ')'.
	line := []byte("1234 (ws node) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 130 0 0 20 0 9 0 100 1000 200 18446744073709551615")
	got, err := parseStatCPU(line)
	if err != nil || got != 3.8 {
		t.Errorf("cpu = %v, %v; want 3.8", got, err)
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("accepted garbage")
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := parseStatusRSS([]byte("Name:\twsnode\nVmPeak:\t  9999 kB\nVmRSS:\t   12345 kB\nThreads: 9\n"))
	if err != nil || got != 12345 {
		t.Errorf("rss = %d, %v", got, err)
	}
	if _, err := parseStatusRSS([]byte("Name: x\n")); err == nil {
		t.Error("missing VmRSS accepted")
	}
}

func TestProcReadersOnSelf(t *testing.T) {
	pid := os.Getpid()
	if cpu, err := procCPU(pid); err != nil || cpu < 0 {
		t.Errorf("procCPU: %v %v", cpu, err)
	}
	if rss, err := procRSS(pid); err != nil || rss <= 0 {
		t.Errorf("procRSS: %v %v", rss, err)
	}
	if cpuSeconds() <= 0 || maxRSSKiB() <= 0 {
		t.Error("getrusage returned nothing")
	}
}

func TestParseRedisInfo(t *testing.T) {
	info := "# Commandstats\r\n" +
		"cmdstat_publish:calls=120,usec=300,usec_per_call=2.50,rejected_calls=0,failed_calls=0\r\n" +
		"cmdstat_client|setinfo:calls=2,usec=1,usec_per_call=0.5\r\n" +
		"cmdstat_info:calls=7,usec=70\r\n" +
		"# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9\r\n"
	s := parseRedisInfo(info)
	if s.Calls["publish"] != 120 || s.Calls["client|setinfo"] != 2 || s.CPU != 3.75 {
		t.Errorf("%+v", s)
	}
	after := parseRedisInfo("cmdstat_publish:calls=220\ncmdstat_info:calls=9\ncmdstat_sadd:calls=3\n")
	d, total := redisDelta(s, after)
	if total != 103 || d["publish"] != 100 || d["sadd"] != 3 || d["info"] != 0 {
		t.Errorf("delta %v total %d", d, total)
	}
}

func TestBitsets(t *testing.T) {
	for name, s := range map[string]seenSet{"plain": newBitset(130), "atomic": newAtomicBitset(130)} {
		if dup, ok := s.testAndSet(129); dup || !ok {
			t.Errorf("%s: first set dup=%v ok=%v", name, dup, ok)
		}
		if dup, _ := s.testAndSet(129); !dup {
			t.Errorf("%s: second set not a duplicate", name)
		}
		if dup, _ := s.testAndSet(64); dup {
			t.Errorf("%s: other key reported duplicate", name)
		}
		if _, ok := s.testAndSet(130); ok {
			t.Errorf("%s: out of range accepted", name)
		}
		if _, ok := s.testAndSet(-1); ok {
			t.Errorf("%s: negative accepted", name)
		}
	}
}

func TestParseProcStatIdle(t *testing.T) {
	stat := []byte("cpu  100 5 50 1000 20 3 7 30 0 0\ncpu0 50 2 25 500 10 1 3 15 0 0\ncpu1 50 3 25 500 10 2 4 15 0 0\nintr 9\n")
	got, cpus, err := parseProcStatIdle(stat)
	if err != nil || got != 10.5 || cpus != 2 { // (1000+20+30)/100
		t.Errorf("idle, cpus = %v, %d, %v; want 10.5, 2", got, cpus, err)
	}
	for _, bad := range []string{"intr 1 2 3\n", "cpu 1 2 3\ncpu0 1 2 3\n", "cpu 1 2 3 x 5 6 7 8\ncpu0 1\n"} {
		if _, _, err := parseProcStatIdle([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if idle, cpus, err := cpuIdle(); err != nil || idle <= 0 || cpus < 1 {
		t.Errorf("cpuIdle = %v, %d, %v", idle, cpus, err)
	}
}

func TestFillMachine(t *testing.T) {
	before := serverSample{At: 0, Idle: 100, CPUs: 2}
	after := serverSample{At: 10e9, Idle: 112, CPUs: 2} // 20 CPU-s of wall, 12 idle: 8 busy
	f := Figures{NodeCPU: 5, GenCPU: 3.5}
	fillMachine(&f, &RedisFigures{CPU: 0.5}, before, after)
	if f.MachineCPU != 8 || f.OtherCPU != -1 {
		t.Errorf("machine %v, other %v; want 8 and -1 (a skew is shown, not hidden)", f.MachineCPU, f.OtherCPU)
	}
	g := Figures{}
	fillMachine(&g, nil, serverSample{}, after) // /proc/stat unreadable at the start
	if g.MachineCPU != 0 || g.OtherCPU != 0 {
		t.Errorf("figures from a missing sample: %+v", g)
	}
}

func TestRunDelay(t *testing.T) {
	if got, err := parseRunDelay([]byte("146333144 12742989 364\n")); err != nil || got != 12742989 {
		t.Errorf("run delay = %d, %v; want 12742989", got, err)
	}
	for _, bad := range []string{"", "123", "1 x 2"} {
		if _, err := parseRunDelay([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	// This process: two threads kept busy on a machine with other work may
	// or may not wait, so only the reading itself is checked.
	if v, err := procRunDelay(os.Getpid()); err != nil || v < 0 {
		t.Errorf("own run delay = %v, %v", v, err)
	}
	if _, err := procRunDelay(1 << 30); err == nil {
		t.Error("no error for a pid that does not exist")
	}
}
