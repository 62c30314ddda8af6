// Package haproxycfg renders deploy/haproxy.cfg for a cluster of local
// processes, so that the tests that run haproxy (integration, web) use the
// file that docker-compose ships, with only its addresses changed. Pure
// functions; safe for concurrent use.
package haproxycfg

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Node is one wsnode as haproxy sees it: its client address (host:port)
// and its admin port, where the health check asks /readyz.
type Node struct {
	WS        string
	AdminPort string
}

var (
	bindLine   = regexp.MustCompile(`(?m)^(\s*bind\s+)\S*:8080\b.*$`)
	serverLine = regexp.MustCompile(`(?m)^(\s*server\s+)(\S+)\s+(\S+):(\d+)\s+(.*)$`)
	checkPort  = regexp.MustCompile(`\bcheck port \d+`)
	resolvers  = regexp.MustCompile(`(?ms)^resolvers .*?(\n\n|\z)`)
)

// Render returns cfg (the text of deploy/haproxy.cfg) with the frontend
// bound to 127.0.0.1:port, one server line per node pointing at its client
// and admin listeners, and Docker's DNS resolver dropped. Everything else
// (balance, checks, timeouts, forwarding) is the file's. It fails when the
// file no longer has exactly one bind on :8080 or one server line per node.
func Render(cfg string, port int, nodes []Node) (string, error) {
	if n := len(bindLine.FindAllString(cfg, -1)); n != 1 {
		return "", fmt.Errorf("haproxy.cfg: %d bind lines on :8080, want 1", n)
	}
	cfg = bindLine.ReplaceAllString(cfg, fmt.Sprintf("${1}127.0.0.1:%d", port))
	if n := len(serverLine.FindAllString(cfg, -1)); n != len(nodes) {
		return "", fmt.Errorf("haproxy.cfg has %d server lines, want %d", n, len(nodes))
	}
	i := 0
	cfg = serverLine.ReplaceAllStringFunc(cfg, func(line string) string {
		m := serverLine.FindStringSubmatch(line)
		n := nodes[i]
		i++
		rest := checkPort.ReplaceAllString(m[5], "check port "+n.AdminPort)
		return fmt.Sprintf("%s%s %s %s", m[1], m[2], n.WS, rest)
	})
	cfg = resolvers.ReplaceAllString(cfg, "")
	return strings.ReplaceAll(cfg, " resolvers docker", ""), nil
}

// Server is a server line of the shipped config.
type Server struct {
	Name, Host      string
	Port, CheckPort int // CheckPort is 0 without "check port N"
}

var checkPortNum = regexp.MustCompile(`\bcheck port (\d+)`)

// Parse reads what the shipped config says: whether its frontend binds
// :8080, and its server lines.
func Parse(cfg string) (binds8080 bool, servers []Server) {
	for _, s := range serverLine.FindAllStringSubmatch(cfg, -1) {
		srv := Server{Name: s[2], Host: s[3]}
		srv.Port, _ = strconv.Atoi(s[4])
		if cm := checkPortNum.FindStringSubmatch(s[5]); cm != nil {
			srv.CheckPort, _ = strconv.Atoi(cm[1])
		}
		servers = append(servers, srv)
	}
	return bindLine.MatchString(cfg), servers
}
