package protocol

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSendableCloseCode(t *testing.T) {
	for code, want := range map[int]bool{
		999: false, 1000: true, 1001: true, 1004: false, 1005: false, 1006: false, 1008: true,
		1011: true, 1012: false, 1015: false, 2999: false, 3000: true, 4006: true, 4999: true, 5000: false,
	} {
		if got := SendableCloseCode(code); got != want {
			t.Errorf("SendableCloseCode(%d) = %v", code, got)
		}
	}
	for _, code := range []int{CloseNormal, CloseGoingAway, CloseInvalidUTF8, ClosePolicy, CloseTooBig, CloseInactive,
		CloseSlowConsumer, CloseRateLimited, CloseNodeUnavailable, ClosePingTimeout, CloseTokenExpired, CloseKicked,
		CloseUserLimit, CloseAuthFailed, CloseAuthTimeout} {
		if !SendableCloseCode(code) {
			t.Errorf("close code %d cannot be sent", code)
		}
	}
}

func TestFitCloseReason(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"bye", "bye"},
		{"\xff\xfe", ""},
		{"a\xffb", "ab"},
		{strings.Repeat("x", 123), strings.Repeat("x", 123)},
		{strings.Repeat("x", 124), strings.Repeat("x", 123)},
		// 2-byte runes: 61 fit in 122 bytes, the 62nd would end at 124.
		{strings.Repeat("é", 100), strings.Repeat("é", 61)},
		{strings.Repeat("x", 122) + "€", strings.Repeat("x", 122)},
	} {
		got := FitCloseReason(tc.in)
		if got != tc.want {
			t.Errorf("FitCloseReason(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !utf8.ValidString(got) || len(got) > 123 {
			t.Errorf("FitCloseReason(%q) = %q: not sendable", tc.in, got)
		}
	}
}
