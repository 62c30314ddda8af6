package registry_test

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/registry"
)

func Example() {
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		panic(err)
	}
	defer m.Close()
	rdb := redis.NewClient(&redis.Options{Addr: m.Addr()})
	defer rdb.Close()

	ctx := context.Background()
	reg, err := registry.New(rdb, registry.Config{NodeID: "node-1", MaxConnsPerUser: 5})
	if err != nil {
		panic(err)
	}
	// Heartbeat before registering, so peers do not reap the registrations.
	lost, _ := reg.Heartbeat(ctx, registry.Node{Addr: "10.0.0.1:8080"})
	fmt.Println("first beat lost:", lost)

	now := time.Now()
	_ = reg.Register(ctx, registry.Conn{ID: "c1", IP: "10.1.2.3", ConnectedAt: now})
	_ = reg.Authenticate(ctx, "c1", "alice", registry.TypeUser, now)
	_ = reg.Join(ctx, "c1", "lobby", now)
	err = reg.Join(ctx, "c1", "bad:name", now)
	fmt.Println(err)

	room, _ := reg.Room(ctx, "lobby")
	fmt.Println(room.Name, room.Connections, room.Users)
	node, _ := reg.ConnNode(ctx, "c1")
	fmt.Println("c1 lives on", node)

	_ = reg.Unregister(ctx, "c1")
	c, _ := reg.Counts(ctx)
	fmt.Printf("active=%d peak=%d rooms=%d\n", c.Active, c.Peak, c.Rooms)
	// Output:
	// first beat lost: true
	// registry: join: room name: may contain only letters, digits and _ . @ = - (got "bad:name")
	// lobby 1 [alice]
	// c1 lives on node-1
	// active=0 peak=1 rooms=0
}
