package integration

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/wsnode/wsnode/internal/haproxycfg"
	"go.yaml.in/yaml/v3"
)

// compose is the part of docker-compose.yml the checks read.
type compose struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Command     []string          `yaml:"command"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		DependsOn   map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		StopGracePeriod string      `yaml:"stop_grace_period"`
		Profiles        []string    `yaml:"profiles"`
		Networks        networkAddr `yaml:"networks"`
	} `yaml:"services"`
}

// networkAddr is a service's fixed IPv4 addresses by network; a plain list
// of networks (no fixed address) leaves it empty.
type networkAddr map[string]string

func (n *networkAddr) UnmarshalYAML(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return nil
	}
	var m map[string]struct {
		IPv4 string `yaml:"ipv4_address"`
	}
	if err := v.Decode(&m); err != nil {
		return err
	}
	*n = networkAddr{}
	for k, a := range m {
		(*n)[k] = a.IPv4
	}
	return nil
}

// stack is one load-balanced set of nodes in docker-compose.yml: the
// default one on a single Redis, or the "cluster" profile's on a Redis
// Cluster.
type stack struct {
	profile   string // "" for the default stack
	lb        string // the haproxy service
	cfg       string // its config, mounted from deploy/
	hostPort  string // the client port it publishes
	redisDeps map[string]string
	// redisURL checks a node's Redis settings.
	redisURL func(env map[string]string) error
}

// binaryFlags returns the flag names printed by "wsnode -h".
func binaryFlags(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command(wsnodeBin, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("wsnode -h: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Every flag has an env twin: --redis-url is WS_REDIS_URL") {
		t.Fatalf("wsnode -h no longer documents the env twins:\n%s", out)
	}
	flags := map[string]string{} // env name -> default shown
	re := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)(?: \w+)?\n((?:    \t.*\n?)+)`)
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		flags["WS_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = m[2]
	}
	for _, must := range []string{"WS_ADDR", "WS_ADMIN_ADDR", "WS_REDIS_URL", "WS_NODE_ID", "WS_JWT_SECRET", "WS_ADMIN_KEY"} {
		if _, ok := flags[must]; !ok {
			t.Fatalf("could not find %s among the flags of wsnode -h (parsed %d flags):\n%s", must, len(flags), out)
		}
	}
	return flags
}

func port(t *testing.T, hostport string) int {
	t.Helper()
	i := strings.LastIndex(hostport, ":")
	p, err := strconv.Atoi(hostport[i+1:])
	if i < 0 || err != nil {
		t.Fatalf("%q has no port", hostport)
	}
	return p
}

type haproxyServer struct {
	name, host      string
	port, checkPort int
}

// parseHAProxyFile reads the frontend port, the backend's servers and the
// health check path of a haproxy config shaped like deploy/haproxy.cfg.
func parseHAProxyFile(t *testing.T, path string) (bind int, servers []haproxyServer, checkPath string, cfg string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg = string(b)
	binds, srvs := haproxycfg.Parse(cfg)
	if !binds {
		t.Fatal("deploy/haproxy.cfg: no frontend bind on :8080")
	}
	bind = 8080
	for _, s := range srvs {
		servers = append(servers, haproxyServer{name: s.Name, host: s.Host, port: s.Port, checkPort: s.CheckPort})
	}
	cm := regexp.MustCompile(`(?m)^\s*option httpchk GET (\S+)`).FindStringSubmatch(cfg)
	if cm == nil {
		t.Fatal("deploy/haproxy.cfg: no 'option httpchk GET <path>'")
	}
	return bind, servers, cm[1], cfg
}

// TestDeployFiles keeps docker-compose.yml, deploy/haproxy.cfg and the
// Dockerfile in step with the binary: env names are flags' env twins, the
// values parse, ports line up with haproxy, and every health endpoint the
// files probe answers 200 on a node started with the compose environment.
// Docker itself is not needed.
func TestDeployFiles(t *testing.T) {
	t.Parallel()
	flags := binaryFlags(t)
	raw, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var dc compose
	if err := yaml.Unmarshal(raw, &dc); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	checkPath := checkStack(t, dc, flags, stack{lb: "lb", cfg: "deploy/haproxy.cfg", hostPort: "8080",
		redisDeps: map[string]string{"redis": "service_healthy"},
		redisURL: func(env map[string]string) error {
			u, err := url.Parse(env["WS_REDIS_URL"])
			if err != nil || u.Scheme != "redis" || u.Hostname() != "redis" || u.Port() != "6379" {
				return fmt.Errorf("WS_REDIS_URL=%q, want redis://redis:6379/...", env["WS_REDIS_URL"])
			}
			return nil
		}})
	// The "cluster" profile: the same nodes on the six Redis Cluster
	// services, with --redis-mode cluster and seeds at their fixed addresses.
	clusterIPs := map[string]bool{}
	for name, s := range dc.Services {
		if strings.HasPrefix(name, "redis-c") && slices.Contains(s.Profiles, "cluster") && s.Networks["cluster"] != "" {
			clusterIPs[s.Networks["cluster"]+":6379"] = true
		}
	}
	if len(clusterIPs) != 6 {
		t.Errorf("profile cluster: %d Redis Cluster services with a fixed address, want 6: %v", len(clusterIPs), clusterIPs)
	}
	checkStack(t, dc, flags, stack{profile: "cluster", lb: "clb", cfg: "deploy/haproxy-cluster.cfg", hostPort: "8081",
		redisDeps: map[string]string{"redis-cluster-init": "service_completed_successfully"},
		redisURL: func(env map[string]string) error {
			if env["WS_REDIS_MODE"] != "cluster" {
				return fmt.Errorf("WS_REDIS_MODE=%q, want cluster", env["WS_REDIS_MODE"])
			}
			co, err := redis.ParseClusterURL(env["WS_REDIS_URL"])
			if err != nil {
				return fmt.Errorf("WS_REDIS_URL=%q: %w", env["WS_REDIS_URL"], err)
			}
			for _, a := range co.Addrs {
				if !clusterIPs[a] {
					return fmt.Errorf("WS_REDIS_URL seed %s is not a Redis Cluster service of the profile", a)
				}
			}
			return nil
		}})

	checkDockerfile(t)

	// Start the binary with node1's compose environment (Redis embedded, own
	// loopback addresses) and probe every path the files probe.
	env := dc.Services["node1"].Environment
	wsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	adminPort := freePort(t)
	var envList []string
	for k, v := range env {
		envList = append(envList, k+"="+expandDefaults(v))
	}
	p := startProc(t, "wsnode (compose env)", envList, wsnodeBin, "--redis-url", "", "--addr", wsAddr,
		"--admin-addr", fmt.Sprintf("127.0.0.1:%d", adminPort))
	n := &wsNode{id: "compose-node1", wsAddr: wsAddr, adminAddr: fmt.Sprintf("127.0.0.1:%d", adminPort), p: p}
	t.Cleanup(func() { checkLogs(t, p) })
	n.waitReady(t, 15*time.Second)
	health := dc.Services["node1"].Healthcheck.Test[2]
	hu, _ := url.Parse(health)
	for _, path := range []string{checkPath, hu.Path, "/healthz"} {
		resp, err := httpClient.Get("http://" + n.adminAddr + path) // no admin key: probes have none
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("health path %s answers %d without the admin key, want 200", path, resp.StatusCode)
		}
	}
	// The compose admin key protects the rest.
	resp, err := httpClient.Get("http://" + n.adminAddr + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("/stats without the key answers %d, want 401", resp.StatusCode)
	}
	// The image's probe binary, with the compose URL moved to this port.
	probe := exec.Command(healthcheckBin, strings.Replace(health, ":"+hu.Port(), ":"+strconv.Itoa(adminPort), 1))
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("healthcheck %s: %v\n%s", health, err, out)
	}
	probe = exec.Command(healthcheckBin, "http://"+n.adminAddr+"/no-such-route")
	if err := probe.Run(); err == nil {
		t.Errorf("healthcheck succeeds on a 404 route")
	}
	// The compose secret is the one in force: a token signed with it works.
	secret := expandDefaults(env["WS_JWT_SECRET"])
	cl := dial(t, n.wsURL(), "compose-client", "", "")
	cl.request(map[string]any{"type": "auth", "token": tokenWith(t, secret, "alice", "user")}, "authenticated")
}

// checkStack checks one stack's nodes against the binary's flags and its
// haproxy config, and returns the config's health check path.
func checkStack(t *testing.T, dc compose, flags map[string]string, st stack) string {
	t.Helper()
	bind, servers, checkPath, _ := parseHAProxyFile(t, "../"+st.cfg)

	// Services: redis:7, node1..3 built here, lb = haproxy with our config.
	redis, ok := dc.Services["redis"]
	if !ok || !strings.HasPrefix(redis.Image, "redis:7") || redis.Healthcheck == nil {
		t.Fatalf("service redis: want image redis:7 with a health check, got %+v", redis)
	}
	var nodes []string
	for name, s := range dc.Services {
		if s.Build != nil && (st.profile == "" && len(s.Profiles) == 0 || slices.Contains(s.Profiles, st.profile)) {
			nodes = append(nodes, name)
		}
	}
	sort.Strings(nodes)
	prefix := strings.TrimSuffix(st.lb, "lb") + "node" // node, cnode
	if want := []string{prefix + "1", prefix + "2", prefix + "3"}; !slices.Equal(nodes, want) {
		t.Fatalf("profile %q: services built from the Dockerfile: %v, want %v", st.profile, nodes, want)
	}
	lb, ok := dc.Services[st.lb]
	if !ok || !strings.HasPrefix(lb.Image, "haproxy:") {
		t.Fatalf("service %s: want a haproxy image, got %+v", st.lb, lb)
	}
	if st.profile != "" && !slices.Contains(lb.Profiles, st.profile) {
		t.Errorf("service %s is not in profile %s", st.lb, st.profile)
	}
	if !slices.Contains(lb.Volumes, "./"+st.cfg+":/usr/local/etc/haproxy/haproxy.cfg:ro") {
		t.Fatalf("service %s does not mount %s: %v", st.lb, st.cfg, lb.Volumes)
	}
	if !slices.Contains(lb.Ports, fmt.Sprintf("%s:%d", st.hostPort, bind)) {
		t.Fatalf("service %s ports %v: want %s:%d (haproxy's bind)", st.lb, lb.Ports, st.hostPort, bind)
	}
	for _, n := range nodes {
		if lb.DependsOn[n].Condition != "service_healthy" {
			t.Errorf("lb should wait for %s to be healthy: %+v", n, lb.DependsOn)
		}
	}

	// haproxy's servers are exactly the node services, on their ports.
	if len(servers) != len(nodes) {
		t.Fatalf("haproxy has %d servers, compose %d nodes", len(servers), len(nodes))
	}
	hostAdmin := map[string]bool{}
	for i, name := range nodes {
		s := dc.Services[name]
		env := s.Environment
		if s.Build.Context != "." || s.Build.Dockerfile != "Dockerfile" {
			t.Errorf("%s: build %+v, want context . and the Dockerfile", name, *s.Build)
		}
		for k := range env {
			if _, ok := flags[k]; !ok {
				t.Errorf("%s: env %s is not the twin of any wsnode flag", name, k)
			}
		}
		for _, k := range []string{"WS_REDIS_URL", "WS_JWT_SECRET", "WS_ADMIN_KEY", "WS_NODE_ID", "WS_ADDR", "WS_ADMIN_ADDR"} {
			if env[k] == "" {
				t.Errorf("%s: %s is not set", name, k)
			}
		}
		if env["WS_NODE_ID"] != name {
			t.Errorf("%s: WS_NODE_ID=%q, want the service name", name, env["WS_NODE_ID"])
		}
		if err := st.redisURL(env); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for dep, cond := range st.redisDeps {
			if s.DependsOn[dep].Condition != cond {
				t.Errorf("%s should depend on %s with %s: %+v", name, dep, cond, s.DependsOn)
			}
		}
		hs := servers[i]
		if hs.name != name || hs.host != name {
			t.Errorf("haproxy server %d is %s at %s, want %s", i, hs.name, hs.host, name)
		}
		if hs.port != port(t, env["WS_ADDR"]) {
			t.Errorf("haproxy sends %s to port %d, but its WS_ADDR is %s", name, hs.port, env["WS_ADDR"])
		}
		adminPort := port(t, env["WS_ADMIN_ADDR"])
		if hs.checkPort != adminPort {
			t.Errorf("haproxy checks %s on port %d, but its WS_ADMIN_ADDR is %s", name, hs.checkPort, env["WS_ADMIN_ADDR"])
		}
		if len(s.Ports) != 1 || !strings.HasSuffix(s.Ports[0], ":"+strconv.Itoa(adminPort)) {
			t.Errorf("%s ports %v: want one mapping to the admin port %d", name, s.Ports, adminPort)
		} else {
			hostAdmin[strings.TrimSuffix(s.Ports[0], ":"+strconv.Itoa(adminPort))] = true
		}
		if s.Healthcheck == nil || len(s.Healthcheck.Test) < 3 || s.Healthcheck.Test[0] != "CMD" ||
			s.Healthcheck.Test[1] != "/usr/local/bin/healthcheck" {
			t.Errorf("%s: health check %+v, want [CMD /usr/local/bin/healthcheck URL]", name, s.Healthcheck)
		} else if hu, err := url.Parse(s.Healthcheck.Test[2]); err != nil || hu.Port() != strconv.Itoa(adminPort) {
			t.Errorf("%s: health check URL %q is not on the admin port %d", name, s.Healthcheck.Test[2], adminPort)
		}
		if d, err := time.ParseDuration(s.StopGracePeriod); err != nil || d <= 15*time.Second {
			t.Errorf("%s: stop_grace_period %q should exceed the 15 s shutdown timeout", name, s.StopGracePeriod)
		}
	}
	if len(hostAdmin) != len(nodes) {
		t.Errorf("the nodes' admin APIs do not each have their own host port: %v", hostAdmin)
	}

	return checkPath
}

// expandDefaults turns compose's ${VAR:-default} into the default, so the
// checks see the values a plain "docker compose up" uses.
func expandDefaults(v string) string {
	return regexp.MustCompile(`\$\{[A-Z_]+:-([^}]*)\}`).ReplaceAllString(v, "$1")
}

// checkDockerfile: multi-stage, static (CGO off), non-root, distroless or
// scratch, and it ships the healthcheck binary docker-compose.yml calls.
func checkDockerfile(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.HasPrefix(final, "gcr.io/distroless/static") && final != "scratch" {
		t.Errorf("final image %s: want distroless/static or scratch", final)
	}
	for _, want := range []string{"CGO_ENABLED=0", "./cmd/wsnode", "./deploy/healthcheck", "/usr/local/bin/", `ENTRYPOINT ["/usr/local/bin/wsnode"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(users) == 0 {
		t.Fatal("Dockerfile sets no USER: the image would run as root")
	}
	if u := users[len(users)-1][1]; u == "root" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("Dockerfile runs as %s, want a non-root user", u)
	}
}
