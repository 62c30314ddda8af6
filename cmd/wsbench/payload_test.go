package main

import (
	"encoding/json"
	"testing"
)

func TestAppendDataIsPaddedJSON(t *testing.T) {
	st := Stamp{Pub: 12, Seq: 3456, Sched: 1712345678901234567, Target: 29}
	for _, size := range []int{0, 64, 128, 1000} {
		d := AppendData(nil, st, size)
		var v struct{ WB, Pad string }
		if err := json.Unmarshal(d, &v); err != nil {
			t.Fatalf("size %d: %s is not JSON: %v", size, d, err)
		}
		if v.WB != "12.3456.1712345678901234567.29" {
			t.Errorf("wb = %q", v.WB)
		}
		if minLen := len(AppendData(nil, st, 0)); size >= minLen && len(d) != size {
			t.Errorf("size %d: got %d bytes", size, len(d))
		}
	}
}

func TestAppendDataAppends(t *testing.T) {
	d := AppendData([]byte("prefix:"), Stamp{Seq: 1}, 100)
	if string(d[:7]) != "prefix:" || len(d) != 107 {
		t.Errorf("got %q", d)
	}
}

func TestScanStampRoundTrip(t *testing.T) {
	st := Stamp{Pub: 7, Seq: 99, Sched: 1700000000123456789, Target: 2}
	frame := []byte(`{"type":"message","room":"r","from":{"user":"u","conn_id":"c"},"data":` +
		string(AppendData(nil, st, 128)) + `,"msg_id":"m1","ts":1700000000123}`)
	got, ok := ScanStamp(frame)
	if !ok || got != st {
		t.Fatalf("ScanStamp = %+v, %v; want %+v", got, ok, st)
	}
}

func TestScanStampToleratesReencoding(t *testing.T) {
	frame := []byte(`{"data": {"pad": "xx", "wb" : "1.2.3.4"}, "type": "direct"}`)
	got, ok := ScanStamp(frame)
	if !ok || got != (Stamp{1, 2, 3, 4}) {
		t.Fatalf("got %+v %v", got, ok)
	}
}

func TestScanStampRejectsGarbage(t *testing.T) {
	bad := []string{
		`{"type":"ping","ts":123}`,
		`{"wb":"1.2.3"}`,
		`{"wb":"1.2.3.4.5"}`,
		`{"wb":"1.x.3.4"}`,
		`{"wb":"1..3.4"}`,
		`{"wb":1}`,
		`{"wb"`,
		`{"wb":"99999999999999999999.1.1.1"}`,
	}
	for _, b := range bad {
		if st, ok := ScanStamp([]byte(b)); ok {
			t.Errorf("%s: accepted as %+v", b, st)
		}
	}
}

func TestFrameType(t *testing.T) {
	cases := map[string]string{
		`{"type":"welcome","conn_id":"x"}`:   "welcome",
		`{"conn_id":"x", "type" : "joined"}`: "joined",
		`{"ts":1}`:                           "",
		`{"type":`:                           "",
	}
	for in, want := range cases {
		if got := string(FrameType([]byte(in))); got != want {
			t.Errorf("FrameType(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestScanAllocatesNothing(t *testing.T) {
	frame := []byte(`{"type":"message","data":` + string(AppendData(nil, Stamp{1, 2, 3, 4}, 128)) + `}`)
	if n := testing.AllocsPerRun(100, func() { ScanStamp(frame) }); n != 0 {
		t.Errorf("ScanStamp allocates %.0f times", n)
	}
}

func BenchmarkScanStamp(b *testing.B) {
	frame := []byte(`{"type":"message","room":"wb-room1","from":{"user":"wb-p1","conn_id":"0b5c"},"data":` +
		string(AppendData(nil, Stamp{1, 2, 3, 4}, 128)) + `,"msg_id":"abc","ts":1700000000000}`)
	b.ReportAllocs()
	for b.Loop() {
		ScanStamp(frame)
	}
}
