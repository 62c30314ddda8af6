package pubsub

import (
	"errors"
	"fmt"
	"strings"
)

// Channel names (docs/internal-contract.md), P being Config.Prefix:
//
//	P:ch:all          every node, always
//	P:ch:node:<id>    that node, always
//	P:ch:room:<room>  a node while it holds a local member of the room
//	P:ch:user:<user>  a node while it holds a local connection of the user
//
// Targets are validated by package registry before they get here (names cannot contain ':'),
// so a channel name maps back to exactly one (kind, target). In cluster mode (Config.Cluster)
// the names are package keyspace's shard channels, {P:a}:ch:all, {P:n<b>}:ch:node:<id>,
// {P:r<b>}:ch:room:<room> and {P:u<b>}:ch:user:<user> (cluster.go).

// ErrInvalidTarget is returned for an unknown kind or a target that does not fit the kind
// (empty for a node, room or user; non-empty for KindAll).
var ErrInvalidTarget = errors.New("pubsub: invalid kind or target")

// Channel returns the Redis channel for (kind, target), or "" if the pair is invalid.
func (b *Broker) Channel(kind Kind, target string) string {
	ch, err := b.channel(kind, target)
	if err != nil {
		return ""
	}
	return ch
}

func (b *Broker) channel(kind Kind, target string) (string, error) {
	if !kind.Valid() || (kind == KindAll) != (target == "") {
		return "", fmt.Errorf("%w: kind %s, target %q", ErrInvalidTarget, kind, target)
	}
	if b.cl != nil {
		return b.cl.channel(kind, target), nil
	}
	if kind == KindAll {
		return b.chPrefix + "all", nil
	}
	return b.chPrefix + kind.String() + ":" + target, nil
}

// parseChannel is the inverse of channel for names under this broker's prefix.
func (b *Broker) parseChannel(ch string) (Kind, string, bool) {
	if b.cl != nil {
		return b.cl.parseChannel(ch)
	}
	rest, ok := strings.CutPrefix(ch, b.chPrefix)
	if !ok {
		return 0, "", false
	}
	if rest == "all" {
		return KindAll, "", true
	}
	seg, target, ok := strings.Cut(rest, ":")
	if !ok || target == "" {
		return 0, "", false
	}
	switch seg {
	case "node":
		return KindNode, target, true
	case "room":
		return KindRoom, target, true
	case "user":
		return KindUser, target, true
	}
	return 0, "", false
}
