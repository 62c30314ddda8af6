package node

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientIP(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name    string
		trusted []netip.Prefix
		remote  string
		xff     []string // one entry per header line
		want    string
	}{
		{"no proxies: peer", nil, "198.51.100.1:4000", nil, "198.51.100.1"},
		{"no proxies: X-Forwarded-For ignored", nil, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"untrusted peer: X-Forwarded-For ignored", proxies, "198.51.100.1:4000", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer: client from X-Forwarded-For", proxies, "10.1.2.3:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer: right-most untrusted entry wins", proxies, "10.1.2.3:4000",
			[]string{"6.6.6.6, 203.0.113.9, 10.0.0.7"}, "203.0.113.9"},
		{"trusted peer: spoofed entry left of the real client", proxies, "10.1.2.3:4000",
			[]string{"127.0.0.1, 203.0.113.9"}, "203.0.113.9"},
		{"trusted peer: spaces and IPv6", proxies, "[fd00::1]:4000", []string{" 2001:db8::5 ,fd00::2 "}, "2001:db8::5"},
		{"trusted peer: IPv4-mapped peer", proxies, "[::ffff:10.1.2.3]:4000", []string{"203.0.113.9"}, "203.0.113.9"},
		{"trusted peer: all entries trusted -> left-most", proxies, "10.1.2.3:4000", []string{"10.9.9.9, 10.0.0.7"}, "10.9.9.9"},
		{"trusted peer: no header -> peer", proxies, "10.1.2.3:4000", nil, "10.1.2.3"},
		{"trusted peer: empty header -> peer", proxies, "10.1.2.3:4000", []string{""}, "10.1.2.3"},
		{"trusted peer: garbage stops the walk", proxies, "10.1.2.3:4000", []string{"203.0.113.9, garbage"}, "10.1.2.3"},
		{"trusted peer: garbage left of the client is never reached", proxies, "10.1.2.3:4000",
			[]string{"garbage, 203.0.113.9"}, "203.0.113.9"},
		{"trusted peer: entry with a port is not an address", proxies, "10.1.2.3:4000", []string{"203.0.113.9:555"}, "10.1.2.3"},
		// A proxy that appends its own header line must not let the client's
		// line (the first one) decide: all lines form one list, in order.
		{"trusted peer: several header lines", proxies, "10.1.2.3:4000",
			[]string{"6.6.6.6", "203.0.113.9"}, "203.0.113.9"},
		{"unparsable RemoteAddr is used as is", proxies, "pipe", []string{"203.0.113.9"}, "pipe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{cfg: Config{TrustedProxies: tt.trusted}}
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := n.clientIP(r); got != tt.want {
				t.Errorf("clientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		name    string
		allowed []string
		host    string
		origin  string
		want    bool
	}{
		{"no Origin (not a browser)", nil, "ws.example", "", true},
		{"same origin", nil, "ws.example", "https://ws.example", true},
		{"same origin, host case", nil, "ws.example", "https://WS.example", true},
		{"same origin with port", nil, "ws.example:8080", "http://ws.example:8080", true},
		{"other port is another origin", nil, "ws.example:8080", "http://ws.example:9090", false},
		{"cross origin", nil, "ws.example", "https://evil.example", false},
		{"suffix trick", nil, "ws.example", "https://ws.example.evil.example", false},
		{"null origin", nil, "ws.example", "null", false},
		{"unparsable origin", nil, "ws.example", "://", false},
		{"allow-list exact", []string{"https://app.example"}, "ws.example", "https://app.example", true},
		{"allow-list: same origin not implied", []string{"https://app.example"}, "ws.example", "https://ws.example", false},
		{"allow-list: scheme matters", []string{"https://app.example"}, "ws.example", "http://app.example", false},
		{"allow-list: no prefix match", []string{"https://app.example"}, "ws.example", "https://app.example.evil.example", false},
		{"allow-list: no trailing slash", []string{"https://app.example"}, "ws.example", "https://app.example/", false},
		{"allow-list: no Origin still allowed", []string{"https://app.example"}, "ws.example", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &Node{cfg: Config{AllowedOrigins: tt.allowed}}
			r := httptest.NewRequest(http.MethodGet, "/ws", nil)
			r.Host = tt.host
			if tt.origin != "" {
				r.Header.Set("Origin", tt.origin)
			}
			if got := n.checkOrigin(r); got != tt.want {
				t.Errorf("checkOrigin(%q on %q) = %v, want %v", tt.origin, tt.host, got, tt.want)
			}
		})
	}
}
