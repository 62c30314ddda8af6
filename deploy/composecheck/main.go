// Command composecheck loads docker-compose.yml with the Compose
// specification's own Go loader (compose-go) and checks the services that
// the README promises: redis, node1..node3 built from the Dockerfile with a
// readiness healthcheck, room history on and joins limited by the token's
// rooms claim, and lb (haproxy) publishing :8080; and, in the "cluster"
// profile, redis-c1..redis-c6 joined by redis-cluster-init, cnode1..cnode3
// in --redis-mode cluster that start after it, and clb publishing :8081.
// Docker cannot run in CI, so this is how the file is validated there. It
// is a module of its own so the main go.mod stays lean.
//
//	go run . ../../docker-compose.yml
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

func main() {
	path := "docker-compose.yml"
	if len(os.Args) > 1 {
		path = os.Args[1]
	}
	if err := check(path); err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Println("composecheck: ok:", path)
}

func check(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	opts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithName("wsnode"))
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := checkProject(p); err != nil {
		return err
	}
	copts, err := cli.NewProjectOptions([]string{abs}, cli.WithWorkingDirectory(filepath.Dir(abs)), cli.WithName("wsnode"),
		cli.WithProfiles([]string{"cluster"}))
	if err != nil {
		return err
	}
	cp, err := copts.LoadProject(context.Background())
	if err != nil {
		return fmt.Errorf("load with profile cluster: %w", err)
	}
	return checkClusterProfile(cp)
}

// checkClusterProfile checks the services of the "cluster" profile.
func checkClusterProfile(p *types.Project) error {
	var errs []error
	for _, name := range []string{"redis-c1", "redis-c2", "redis-c3", "redis-c4", "redis-c5", "redis-c6"} {
		s, err := p.GetService(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !slices.Contains(s.Command, "--cluster-enabled") || s.HealthCheck == nil {
			errs = append(errs, fmt.Errorf("%s is not a cluster-enabled redis with a healthcheck", name))
		}
	}
	if s, err := p.GetService("redis-cluster-init"); err != nil {
		errs = append(errs, err)
	} else if !strings.Contains(strings.Join(s.Command, " "), "--cluster create") || !strings.Contains(strings.Join(s.Command, " "), "--cluster-replicas 1") {
		errs = append(errs, fmt.Errorf("redis-cluster-init does not create the cluster with a replica per primary: %v", s.Command))
	}
	for _, name := range []string{"cnode1", "cnode2", "cnode3"} {
		s, err := p.GetService(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" || s.HealthCheck == nil {
			errs = append(errs, fmt.Errorf("%s is not built from the Dockerfile with a healthcheck", name))
		}
		for k, v := range map[string]string{"WS_NODE_ID": name, "WS_REDIS_MODE": "cluster", "WS_HISTORY_SIZE": "100"} {
			if got := s.Environment[k]; got == nil || *got != v {
				errs = append(errs, fmt.Errorf("%s: %s = %v, want %q", name, k, deref(got), v))
			}
		}
		if d, ok := s.DependsOn["redis-cluster-init"]; !ok || d.Condition != types.ServiceConditionCompletedSuccessfully {
			errs = append(errs, fmt.Errorf("%s does not wait for redis-cluster-init to complete", name))
		}
	}
	if lb, err := p.GetService("clb"); err != nil {
		errs = append(errs, err)
	} else if !slices.ContainsFunc(lb.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published == "8081" }) {
		errs = append(errs, errors.New("clb (haproxy) does not publish :8081"))
	}
	return errors.Join(errs...)
}

func checkProject(p *types.Project) error {
	var errs []error
	want := []string{"lb", "node1", "node2", "node3", "redis"}
	if got := p.ServiceNames(); !slices.Equal(sorted(got), want) {
		errs = append(errs, fmt.Errorf("services %v, want %v", sorted(got), want))
	}
	for _, name := range []string{"node1", "node2", "node3"} {
		s, err := p.GetService(name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s.Build == nil || s.Build.Dockerfile != "Dockerfile" {
			errs = append(errs, fmt.Errorf("%s is not built from the Dockerfile", name))
		}
		if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
			errs = append(errs, fmt.Errorf("%s has no healthcheck", name))
		}
		env := s.Environment
		for k, v := range map[string]string{"WS_NODE_ID": name, "WS_REDIS_URL": "redis://redis:6379/0", "WS_HISTORY_SIZE": "100", "WS_ROOMS_POLICY": "claim"} {
			if got := env[k]; got == nil || *got != v {
				errs = append(errs, fmt.Errorf("%s: %s = %v, want %q", name, k, deref(got), v))
			}
		}
		if _, ok := s.DependsOn["redis"]; !ok {
			errs = append(errs, fmt.Errorf("%s does not depend on redis", name))
		}
	}
	if lb, err := p.GetService("lb"); err != nil {
		errs = append(errs, err)
	} else if !slices.ContainsFunc(lb.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 }) {
		errs = append(errs, errors.New("lb (haproxy) does not publish container port 8080"))
	}
	return errors.Join(errs...)
}

func sorted(s []string) []string { s = slices.Clone(s); slices.Sort(s); return s }

func deref(p *string) string {
	if p == nil {
		return "<unset>"
	}
	return *p
}
