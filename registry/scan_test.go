package registry

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"testing"
)

// TestLargeKeysReadInPages: on a real Redis, a room, the connection set and
// the activity hash larger than one scan page are read whole, and in more
// than one SSCAN/HSCAN call (no single SMEMBERS or HGETALL holds Redis).
func TestLargeKeysReadInPages(t *testing.T) {
	ctx := context.Background()
	rdb := MustRealRedis(t)
	r := MustRegistry(t, rdb, "node-a", nil)
	const n = 3*scanCount + 17
	acts := make([]Activity, n)
	for i := range n {
		id := fmt.Sprintf("c%04d", i)
		mustRegister(t, r, Conn{ID: id, User: "u" + strconv.Itoa(i%7), Rooms: []string{"big"}, LastActivity: t0})
		acts[i] = Activity{ConnID: id, LastActivity: t0}
	}
	noErr(t, r.Touch(ctx, acts[:n/2])) // half in the activity hash, half read from their records
	noErr(t, rdb.ConfigResetStat(ctx).Err())

	room, err := r.Room(ctx, "big")
	noErr(t, err)
	equal(t, "members", len(room.ConnIDs), n)
	equal(t, "first, last", []string{room.ConnIDs[0], room.ConnIDs[n-1]}, []string{"c0000", fmt.Sprintf("c%04d", n-1)})
	equal(t, "users", len(room.Users), 7)
	act, err := r.Activity(ctx)
	noErr(t, err)
	equal(t, "activity entries", len(act), n)
	ids, err := r.scanSet(ctx, r.Keys().NodeConns("node-a"))
	noErr(t, err)
	equal(t, "node's connections", len(ids), n)

	info, err := rdb.Info(ctx, "commandstats").Result()
	noErr(t, err)
	for _, cmd := range []string{"sscan", "hscan"} {
		m := regexp.MustCompile(`cmdstat_` + cmd + `:calls=(\d+)`).FindStringSubmatch(info)
		if m == nil {
			t.Fatalf("no %s in commandstats:\n%s", cmd, info)
		}
		if calls, _ := strconv.Atoi(m[1]); calls < 2 {
			t.Errorf("%s ran %d times; a key of %d entries must take several pages", cmd, calls, n)
		}
	}
	for _, cmd := range []string{"smembers", "hgetall"} {
		if regexp.MustCompile(`cmdstat_` + cmd + `:`).MatchString(info) {
			t.Errorf("%s was used on a large key", cmd)
		}
	}
}
