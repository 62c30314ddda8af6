package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/wsnode/wsnode/auth"
)

// runToken mints a development token: wsnode token --user NAME [--type T] [--rooms R] [--ttl D].
// After -h or --help it has printed the usage and returns flag.ErrHelp.
// It signs with --jwt-secret / WS_JWT_SECRET, or the built-in development
// secret that an embedded-Redis node also uses when none is set.
func runToken(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("wsnode token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: wsnode token --user NAME [--type user|ai_assistant|system] [--rooms r1,dm.alice.*] [--ttl 1h] [--jwt-secret S]\n\n")
		fs.PrintDefaults()
	}
	user := fs.String("user", "", "user name (the token's sub)")
	typ := fs.String("type", "user", "conn_type: user, ai_assistant or system")
	ttl := fs.Duration("ttl", time.Hour, "lifetime of the token")
	rooms := fs.String("rooms", "", `comma-separated room names or glob patterns for the token's "rooms" claim (--rooms-policy claim); empty = no claim`)
	secret := fs.String("jwt-secret", "", "HS256 secret (env WS_JWT_SECRET; default: the development secret)")
	// Only the secret has an env twin here: WS_USER or WS_TYPE set for
	// some other purpose must not silently change the token.
	secretOnly := func(name string) (string, bool) {
		if name != envName("jwt-secret") {
			return "", false
		}
		return os.LookupEnv(name)
	}
	if err := parseFlags(fs, args, secretOnly); err != nil {
		return err
	}
	if *user == "" {
		return fmt.Errorf("token: --user is required")
	}
	if *ttl <= 0 {
		return fmt.Errorf("token: --ttl must be positive")
	}
	if *secret == "" {
		*secret = devSecret
	}
	v, err := auth.NewVerifier(0, *secret)
	if err != nil {
		return err
	}
	claims := auth.Claims{User: *user, ConnType: *typ}
	if *rooms != "" {
		claims.Rooms = splitList(*rooms)
	}
	tok, err := v.MintClaims(claims, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}
