package main

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// helpArgs are the command lines that ask for help: the program's own and
// each subcommand's, in both spellings.
func helpArgs() [][]string {
	all := [][]string{{"-h"}, {"--help"}, {"-help"}}
	for name := range subcommands {
		all = append(all, []string{name, "-h"}, []string{name, "--help"})
	}
	return all
}

// TestHelpIsNotAnError: run returns nil after printing a usage for every
// help request, and says nothing about "help requested".
func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range helpArgs() {
		var stdout, stderr strings.Builder
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := run(ctx, args, &stdout, &stderr)
		cancel()
		if err != nil {
			t.Errorf("wsnode %s: %v, want nil", strings.Join(args, " "), err)
		}
		out := stdout.String() + stderr.String()
		if !strings.Contains(out, "usage: wsnode") || strings.Contains(out, "help requested") {
			t.Errorf("wsnode %s printed:\n%s", strings.Join(args, " "), out)
		}
	}
}

// TestHelpExitStatus: the process exits 0 on every help request, and 1 on
// a real usage error.
func TestHelpExitStatus(t *testing.T) {
	status := func(args []string) (int, string) {
		out, err := mainCmd(t, args...).CombinedOutput()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode(), string(out)
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	for _, args := range helpArgs() {
		if code, out := status(args); code != 0 || strings.Contains(out, "help requested") {
			t.Errorf("wsnode %s: exit %d, want 0:\n%s", strings.Join(args, " "), code, out)
		}
	}
	for _, args := range [][]string{{"--no-such-flag"}, {"token", "--no-such-flag"}, {"token"}} {
		if code, out := status(args); code != 1 {
			t.Errorf("wsnode %s: exit %d, want 1:\n%s", strings.Join(args, " "), code, out)
		}
	}
}
