package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/wsnode/wsnode/joinhook"
	"github.com/wsnode/wsnode/node"
	"github.com/wsnode/wsnode/registry"
)

// appFlags are the settings for applications built on wsnode: per-room
// authorization, the client event stream and presence.
type appFlags struct {
	roomsPolicy, presenceRooms, events string
	hookCache                          time.Duration
}

// addAppFlags defines the application flags; setting records the Config
// field each one sets (see newFlagSet).
func addAppFlags(fs *flag.FlagSet, o *options, setting func(field, name string) string) {
	c, a := &o.cfg, &o.app
	fs.StringVar(&a.roomsPolicy, setting("RoomsPolicy", "rooms-policy"), string(node.RoomsOpen),
		"who may join which room: open (anyone), claim (the token's rooms claim) or hook (ask --join-hook)")
	fs.StringVar(&c.JoinHook.URL, setting("JoinHook.URL", "join-hook"), "",
		"backend URL asked about every join under --rooms-policy hook (POST JSON; 2xx allows, 4xx denies, anything else fails closed)")
	setting("JoinAuthorizer", "join-hook")
	fs.DurationVar(&c.JoinHook.Timeout, setting("JoinHook.Timeout", "join-hook-timeout"), joinhook.DefaultTimeout,
		"bound on one join hook decision; slower fails the join with unavailable")
	fs.DurationVar(&a.hookCache, "join-hook-cache", joinhook.DefaultCacheTTL,
		"how long an allowed (user, room) is remembered (0 = ask every time)")
	fs.IntVar(&c.JoinHook.MaxConcurrent, setting("JoinHook.MaxConcurrent", "join-hook-concurrency"), joinhook.DefaultMaxConcurrent,
		"join hook requests in flight per node")
	fs.StringVar(&a.events, setting("Events", "events"), "",
		"comma-separated client events appended to the Redis stream <prefix>:events: connect, disconnect, join, leave, message, direct (empty = none)")
	fs.Int64Var(&c.EventsMaxLen, setting("EventsMaxLen", "events-maxlen"), registry.DefaultEventsMaxLen,
		"approximate length cap of the event stream")
	fs.StringVar(&a.presenceRooms, setting("PresenceRooms", "presence-rooms"), "",
		"comma-separated glob patterns of rooms whose members receive presence frames on join and leave (empty = none)")
}

// finish turns the application flags into the server's settings.
func (a appFlags) finish(o *options) error {
	n := &o.cfg.Node
	n.RoomsPolicy = node.RoomsPolicy(a.roomsPolicy)
	n.Events = splitList(a.events)
	n.PresenceRooms = splitList(a.presenceRooms)
	switch {
	case a.hookCache < 0:
		return fmt.Errorf("--join-hook-cache (%v) must not be negative", a.hookCache)
	case a.hookCache == 0:
		o.cfg.JoinHook.CacheTTL = -1 // joinhook: negative disables the cache
	default:
		o.cfg.JoinHook.CacheTTL = a.hookCache
	}
	return nil
}
