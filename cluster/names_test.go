package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name, in, rule string // rule "" means valid
	}{
		{"empty", "", ruleLength},
		{"129 bytes", strings.Repeat("a", 129), ruleLength},
		{"128 bytes", strings.Repeat("a", 128), ""},
		{"one byte", "a", ""},
		{"all allowed", "Az09_.@=-", ""},
		{"email", "alice@example.com", ""},
		{"uuid", "0b6e1e0c-3c9f-4f57-9d2a-6f1b7c1d2e3f", ""},
		{"control char", "a\x00b", ruleCharset},
		{"newline", "a\nb", ruleCharset},
		{"tab", "a\tb", ruleCharset},
		{"DEL", "a\x7fb", ruleCharset},
		{"space", "a b", ruleCharset},
		{"colon", "a:b", ruleCharset},
		{"star", "a*", ruleCharset},
		{"question", "a?", ruleCharset},
		{"open bracket", "a[", ruleCharset},
		{"close bracket", "a]", ruleCharset},
		{"open brace", "{a", ruleCharset},
		{"close brace", "a}", ruleCharset},
		{"slash", "a/b", ruleCharset},
		{"backslash", `a\b`, ruleCharset},
		{"unicode", "café", ruleCharset},
		{"emoji", "😀", ruleCharset},
		{"quote", `a"b`, ruleCharset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateName("room", tt.in)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("ValidateName(%q) = %v, want nil", tt.in, err)
				}
				return
			}
			var ne *NameError
			if !errors.As(err, &ne) {
				t.Fatalf("ValidateName(%q) = %v, want *NameError", tt.in, err)
			}
			if ne.Rule != tt.rule || ne.Kind != "room" || ne.Name != tt.in {
				t.Fatalf("NameError = %+v, want rule %q", ne, tt.rule)
			}
			if !strings.HasPrefix(err.Error(), "room name: "+tt.rule) {
				t.Fatalf("message %q does not start with %q", err.Error(), "room name: "+tt.rule)
			}
		})
	}
}

func TestNameErrorTruncates(t *testing.T) {
	err := ValidateName("user", strings.Repeat("x", 5000))
	if n := len(err.Error()); n > 200 {
		t.Fatalf("message is %d bytes, want it truncated: %q", n, err.Error())
	}
}
