package main

import (
	"os"
	"os/exec"
	"testing"
)

// TestMain lets tests run the real main in a child process: with
// WSNODE_TEST_MAIN=1 in its environment, the test binary is wsnode.
func TestMain(m *testing.M) {
	if os.Getenv("WSNODE_TEST_MAIN") == "1" {
		os.Args = append([]string{"wsnode"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// mainCmd is "wsnode args..." as a child process of the test.
func mainCmd(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	// atexit_sleep_ms: a -race binary otherwise sleeps 1 s before exiting.
	cmd.Env = append(os.Environ(), "WSNODE_TEST_MAIN=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}
