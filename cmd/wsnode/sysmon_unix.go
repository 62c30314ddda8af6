//go:build unix

package main

import (
	"fmt"
	"os"
	"syscall"
)

// reexec is execSelf on Unix: execve of the running binary. On Linux it
// goes through /proc/self/exe, which still names the running file when a
// deploy has replaced or removed it on disk.
func reexec(env []string) error {
	exe := "/proc/self/exe"
	if _, err := os.Stat(exe); err != nil {
		if exe, err = os.Executable(); err != nil {
			return fmt.Errorf("re-execute: %w", err)
		}
	}
	return fmt.Errorf("re-execute %s: %w", exe, syscall.Exec(exe, os.Args, env))
}
