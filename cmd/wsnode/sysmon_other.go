//go:build !unix

package main

import (
	"errors"
	"fmt"
)

// reexec is execSelf where a process cannot replace itself: it does nothing.
func reexec([]string) error { return fmt.Errorf("re-execute: %w", errors.ErrUnsupported) }
