// Command healthcheck is the container health probe of the wsnode image,
// which has no shell, curl or wget: it GETs a URL and exits 0 on a 2xx
// answer, 1 otherwise.
//
//	healthcheck [URL]    default http://127.0.0.1:9090/readyz
package main

import (
	"fmt"
	"net/http"
	"os"
	"time"
)

func main() {
	url := "http://127.0.0.1:9090/readyz"
	if len(os.Args) > 1 {
		url = os.Args[1]
	}
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintln(os.Stderr, "healthcheck:", url, resp.Status)
		os.Exit(1)
	}
}
