package main

import (
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
)

// Where the node's secret came from, for the token hint.
const (
	secretNone = ""     // no secret: the development secret (embedded mode)
	secretEnv  = "env"  // WS_JWT_SECRET
	secretFlag = "flag" // --jwt-secret on the command line
)

// tokenHint is the command the start-up log suggests for minting a token
// this node accepts, runnable as printed from a POSIX shell that has the
// node's environment. It never contains the secret: logs are shipped and
// shared. With a secret it is prefixed WS_JWT_SECRET=${WS_JWT_SECRET:?},
// so the shell supplies the secret, and refuses to run when the variable
// is unset or empty instead of minting a development-secret token the node
// would reject. (An assignment needs no quotes whatever the secret holds,
// and slog's text format then prints the command without escapes.)
func tokenHint(prog, secretFrom string) string {
	cmd := prog + " token --user alice"
	if secretFrom != secretNone {
		v := envName("jwt-secret")
		cmd = v + "=${" + v + ":?} " + cmd
	}
	return cmd
}

// progCommand is how to run this program again, for tokenHint.
func progCommand() string {
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	}
	wd, err := os.Getwd()
	if err != nil {
		wd = ""
	}
	return progCommandFor(exe, os.Args[0], wd, modulePackage())
}

// progCommandFor: under "go run" (the executable lives in the go command's
// temporary go-build*/…/exe/ directory) it is "go run ./cmd/wsnode" when
// started from the module root, else "go run PACKAGE", which works from
// anywhere inside the module. Otherwise it is the name the program was
// started by when that was a bare name found on PATH, or else the
// executable's absolute path, quoted for a POSIX shell.
func progCommandFor(exe, argv0, wd, pkg string) string {
	if isGoRun(exe) {
		if wd != "" {
			if _, err := os.Stat(filepath.Join(wd, "cmd", "wsnode", "main.go")); err == nil {
				return "go run ./cmd/wsnode"
			}
		}
		return "go run " + pkg
	}
	if argv0 != "" && !strings.ContainsRune(argv0, filepath.Separator) {
		return shellQuote(argv0)
	}
	if exe == "" {
		exe = argv0
	}
	if abs, err := filepath.Abs(exe); err == nil {
		exe = abs
	}
	return shellQuote(exe)
}

func isGoRun(exe string) bool {
	dir := filepath.Dir(exe)
	return filepath.Base(dir) == "exe" && strings.Contains(filepath.ToSlash(dir), "/go-build")
}

// modulePackage is this program's import path.
func modulePackage() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Path != "" && !strings.HasSuffix(bi.Path, ".test") {
		return bi.Path
	}
	return "github.com/wsnode/wsnode/cmd/wsnode"
}

// shellQuote quotes s for a POSIX shell unless it needs no quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-+=:,@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
