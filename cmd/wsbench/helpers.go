package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/wsnode/wsnode/internal/freeport"
)

// freeportMain prints N distinct free TCP ports on 127.0.0.1, one per
// line, for the bench scripts. They come from below the ephemeral range
// (internal/freeport), so no outgoing connection takes one before the
// server started on it binds it.
func freeportMain(args []string, stdout, stderr io.Writer) int {
	n := 1
	if len(args) > 0 {
		v, err := strconv.Atoi(args[0])
		if err != nil || v < 1 {
			fmt.Fprintln(stderr, "usage: wsbench freeport [N]")
			return 2
		}
		n = v
	}
	ports, err := freeport.Pick(n)
	if err != nil {
		fmt.Fprintln(stderr, "wsbench:", err)
		return 1
	}
	for _, p := range ports {
		fmt.Fprintln(stdout, p)
	}
	return 0
}

// waitreadyMain polls every URL until it answers 200 or the timeout ends.
func waitreadyMain(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("wsbench waitready", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 20*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	deadline := time.Now().Add(*timeout)
	client := &http.Client{Timeout: time.Second}
	for _, u := range fs.Args() {
		if !pollReady(client, u, deadline) {
			fmt.Fprintf(stderr, "wsbench waitready: %s not ready after %s\n", u, *timeout)
			return 1
		}
	}
	return 0
}

func pollReady(client *http.Client, url string, deadline time.Time) bool {
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}
