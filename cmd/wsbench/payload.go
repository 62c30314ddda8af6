package main

import (
	"bytes"
	"strconv"
)

// Stamp identifies one generated message. It travels inside the message's
// "data" as {"wb":"<pub>.<seq>.<sched>.<target>","pad":"xxx..."} so that a
// receiver can find it with a byte scan instead of decoding the frame.
type Stamp struct {
	Pub    int64 // global publisher (or sender) index
	Seq    int64 // per-publisher sequence number, from 0
	Sched  int64 // scheduled send time, unix ns
	Target int64 // room index (rooms) or receiver user index (direct)
}

var (
	stampKey  = []byte(`"wb"`)
	typeKey   = []byte(`"type"`)
	padOpen   = []byte(`","pad":"`)
	dataClose = []byte(`"}`)
)

// AppendData appends the JSON "data" value for m to dst, padded with 'x' so
// that the value is exactly size bytes long when size allows it.
func AppendData(dst []byte, m Stamp, size int) []byte {
	start := len(dst)
	dst = append(dst, `{"wb":"`...)
	dst = strconv.AppendInt(dst, m.Pub, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, m.Seq, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, m.Sched, 10)
	dst = append(dst, '.')
	dst = strconv.AppendInt(dst, m.Target, 10)
	dst = append(dst, padOpen...)
	for pad := size - (len(dst) - start) - len(dataClose); pad > 0; pad-- {
		dst = append(dst, 'x')
	}
	return append(dst, dataClose...)
}

// ScanStamp finds the stamp in a received frame. It tolerates whitespace
// around the colon, in case the server re-encodes "data".
func ScanStamp(frame []byte) (Stamp, bool) {
	i := bytes.Index(frame, stampKey)
	if i < 0 {
		return Stamp{}, false
	}
	p := skipSpace(frame, i+len(stampKey))
	if p >= len(frame) || frame[p] != ':' {
		return Stamp{}, false
	}
	p = skipSpace(frame, p+1)
	if p >= len(frame) || frame[p] != '"' {
		return Stamp{}, false
	}
	var vals [4]int64
	p++
	for k := range vals {
		var ok bool
		vals[k], p, ok = scanUint(frame, p)
		want := byte('.')
		if k == len(vals)-1 {
			want = '"'
		}
		if !ok || p >= len(frame) || frame[p] != want {
			return Stamp{}, false
		}
		p++
	}
	return Stamp{Pub: vals[0], Seq: vals[1], Sched: vals[2], Target: vals[3]}, true
}

// FrameType returns the value of the frame's "type" field without decoding
// the frame, or nil when there is none.
func FrameType(frame []byte) []byte {
	i := bytes.Index(frame, typeKey)
	if i < 0 {
		return nil
	}
	p := skipSpace(frame, i+len(typeKey))
	if p >= len(frame) || frame[p] != ':' {
		return nil
	}
	p = skipSpace(frame, p+1)
	if p >= len(frame) || frame[p] != '"' {
		return nil
	}
	end := bytes.IndexByte(frame[p+1:], '"')
	if end < 0 {
		return nil
	}
	return frame[p+1 : p+1+end]
}

func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}

// scanUint parses decimal digits at b[p:], returning the value and the
// index of the first non-digit. It fails on no digits or overflow.
func scanUint(b []byte, p int) (int64, int, bool) {
	start := p
	var v int64
	for p < len(b) && b[p] >= '0' && b[p] <= '9' {
		if p-start >= 19 {
			return 0, p, false
		}
		v = v*10 + int64(b[p]-'0')
		p++
	}
	return v, p, p > start
}
