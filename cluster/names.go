package cluster

import "fmt"

// MaxNameLen is the longest valid user name, room name, node id or prefix, in bytes.
const MaxNameLen = 128

// Name rules, as reported in NameError.Rule.
const (
	ruleLength  = "must be 1-128 characters"
	ruleCharset = "may contain only letters, digits and _ . @ = -"
)

// maxEchoLen bounds how much of an invalid name NameError.Error repeats.
const maxEchoLen = 64

// NameError reports an invalid user, room or node name and names the rule broken.
type NameError struct {
	Kind string // "user", "room", "node", "prefix", "conn"
	Name string // the rejected name, as given
	Rule string // human-readable rule, e.g. "must be 1-128 characters"
}

// Error returns "<kind> name: <rule>" followed by the (truncated, quoted) name.
func (e *NameError) Error() string {
	name := e.Name
	if len(name) > maxEchoLen {
		name = name[:maxEchoLen] + "..."
	}
	return fmt.Sprintf("%s name: %s (got %q)", e.Kind, e.Rule, name)
}

// ValidateName checks that name is 1..128 bytes of [A-Za-z0-9_.@=-]. These
// rules keep every name usable as the last segment of a Redis key: no ':'
// separator, no glob characters, no braces, no whitespace or control bytes.
// It returns a *NameError naming the broken rule, or nil.
func ValidateName(kind, name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return &NameError{Kind: kind, Name: name, Rule: ruleLength}
	}
	for i := 0; i < len(name); i++ {
		if !nameByte(name[i]) {
			return &NameError{Kind: kind, Name: name, Rule: ruleCharset}
		}
	}
	return nil
}

func nameByte(b byte) bool {
	switch {
	case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		return true
	case b == '_', b == '.', b == '@', b == '=', b == '-':
		return true
	}
	return false
}
