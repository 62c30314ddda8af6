package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// wsnodeBin is the wsnode binary built once for this test binary, and
// healthcheckBin the container health probe from deploy/healthcheck.
var wsnodeBin, healthcheckBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "wsnode-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	wsnodeBin = filepath.Join(dir, "wsnode")
	healthcheckBin = filepath.Join(dir, "healthcheck")
	// When the tests run with -race, the nodes do too: a data race inside a
	// node process then fails the test that drove it (see checkLogs).
	args := []string{"build"}
	if raceEnabled {
		args = append(args, "-race")
	}
	builds := []struct{ out, pkg string }{{wsnodeBin, "./cmd/wsnode"}, {healthcheckBin, "./deploy/healthcheck"}}
	if bin := os.Getenv("WSNODE_BIN"); bin != "" {
		// A prebuilt binary (e.g. the one CI already built) instead of ./cmd/wsnode.
		if wsnodeBin, err = filepath.Abs(bin); err != nil {
			fmt.Fprintln(os.Stderr, "integration:", err)
			return 1
		}
		builds = builds[1:]
	}
	for _, b := range builds {
		cmd := exec.Command("go", append(args, "-o", b.out, b.pkg)...)
		cmd.Dir = ".."
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "integration: building %s: %v\n", b.pkg, err)
			return 1
		}
	}
	code := m.Run()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "integration: goroutine leak:", err)
			return 1
		}
	}
	return code
}
