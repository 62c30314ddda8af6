// Package settings reports configuration values that are out of range or
// that do not fit together. The packages name a setting by its Config field
// (server's fields as they are, node's as in node.Config); wsnode describes
// the same problem with the names of its flags (Describe).
package settings

import (
	"fmt"
	"strings"
)

// Error is a setting whose value is out of range, or two settings that
// depend on each other and whose values do not fit together.
type Error struct {
	names  []string
	values []any // the values of names, then any extra values of the rule
	rule   string
}

// Range reports one setting. rule is a fmt format in which %[1]s is the
// setting's name, %[2]v its value and %[3]v, ... the extra values.
func Range(name string, value any, rule string, extra ...any) *Error {
	return &Error{names: []string{name}, values: append([]any{value}, extra...), rule: rule}
}

// Conflict reports two settings that depend on each other. rule is a fmt
// format in which %[1]s and %[2]v are the first setting's name and value,
// %[3]s and %[4]v the second's, and %[5]v, ... the extra values.
func Conflict(a string, av any, b string, bv any, rule string, extra ...any) *Error {
	return &Error{names: []string{a, b}, values: append([]any{av, bv}, extra...), rule: rule}
}

// Settings are the names of the settings concerned, as the package gave them.
func (e *Error) Settings() []string { return e.names }

// Error describes the problem with the settings' own names.
func (e *Error) Error() string { return e.Describe(nil) }

// Describe describes the problem with each setting called name(setting),
// or by its own name when name is nil or returns "".
func (e *Error) Describe(name func(setting string) string) string {
	args := make([]any, 0, len(e.values)+len(e.names))
	for i, v := range e.values {
		if i < len(e.names) {
			n := e.names[i]
			if name != nil {
				if alt := name(n); alt != "" {
					n = alt
				}
			}
			args = append(args, n)
		}
		args = append(args, v)
	}
	return strings.TrimSpace(fmt.Sprintf(e.rule, args...))
}
