package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/events"
)

// RoomPublisher sends data as a message to every member of a room. In a Go
// program that embeds a node it is (*server.Server).PublishRoom (with no
// exclude); from another process, the admin API's POST /publish with
// {"room": room, "data": data}.
type RoomPublisher func(ctx context.Context, room string, data json.RawMessage) error

// assistant answers the questions asked in rooms.
type assistant struct {
	publish RoomPublisher
	// answered remembers the entries already answered: a redelivered entry
	// (after a crash between answering and the acknowledgement) is not
	// answered twice. A real worker keeps this where it survives a
	// restart, e.g. a Redis set with a TTL.
	answered map[string]bool
}

func (a *assistant) handle(ctx context.Context, e events.Entry) error {
	// Only room messages from people; the assistant's own answers, if it
	// were connected as a client, would come back as ai_assistant events.
	if e.Type != events.Message || e.ConnType == "ai_assistant" || a.answered[e.ID] {
		return nil
	}
	var msg struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(e.Data, &msg) != nil || !strings.HasSuffix(msg.Text, "?") {
		return nil // not a question: nothing to do, never retried
	}
	answer, _ := json.Marshal(map[string]string{"text": "@" + e.User + ": good question", "re": e.MsgID})
	if err := a.publish(ctx, e.Room, answer); err != nil {
		return err // left pending: answered again after ClaimMinIdle
	}
	a.answered[e.ID] = true
	return nil
}

// An assistant worker reads the room messages of the client-event stream
// and answers questions in the same room. The events are written here as a
// node with events on writes them.
func Example_assistant() {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		panic(err)
	}
	defer mr.Close()
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	defer rdb.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// What the nodes write: one entry per client occurrence.
	var last string
	for _, e := range []events.Event{
		{Type: events.Join, NodeID: "n1", ConnID: "c1", User: "alice", ConnType: "user", Room: "lobby"},
		{Type: events.Message, NodeID: "n1", ConnID: "c1", User: "alice", ConnType: "user", Room: "lobby",
			Data: json.RawMessage(`{"text":"hello"}`), MsgID: "m1"},
		{Type: events.Message, NodeID: "n2", ConnID: "c2", User: "bob", ConnType: "user", Room: "help",
			Data: json.RawMessage(`{"text":"is anyone there?"}`), MsgID: "m2"},
		{Type: events.Message, NodeID: "n1", ConnID: "c1", User: "alice", ConnType: "user", Room: "lobby",
			Data: json.RawMessage(`{"text":"how do I join?"}`), MsgID: "m3"},
		{Type: events.Leave, NodeID: "n1", ConnID: "c1", User: "alice", ConnType: "user", Room: "lobby"},
	} {
		b, _ := json.Marshal(e)
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: events.StreamKey("ws"), MaxLen: 100000, Approx: true,
			Values: []any{events.Field, b}}).Result()
		if err != nil {
			panic(err)
		}
		last = id
	}

	a := &assistant{answered: map[string]bool{}, publish: func(_ context.Context, room string, data json.RawMessage) error {
		fmt.Printf("to %s: %s\n", room, data)
		return nil
	}}
	c, err := events.New(rdb, events.Config{
		Group:    "assistant",   // every assistant worker uses this group
		Consumer: "assistant-1", // and its own name
		Block:    100 * time.Millisecond,
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	err = c.Run(ctx, func(ctx context.Context, e events.Entry) error {
		if e.ID == last {
			defer cancel() // the example stops after the last entry written above
		}
		return a.handle(ctx, e)
	})
	fmt.Println("Run:", err, "handled:", c.Stats().Handled)
	// Output:
	// to help: {"re":"m2","text":"@bob: good question"}
	// to lobby: {"re":"m3","text":"@alice: good question"}
	// Run: <nil> handled: 5
}
