package registry

import (
	"context"
	"slices"
)

// scanCount is the COUNT hint of the SSCAN and HSCAN calls that replace
// SMEMBERS and HGETALL on sets and hashes that grow with the cluster (a
// node's connections, all connections, all rooms, a room's members, the
// activity hash). A whole-key read of 15,000 members held Redis for 23-53 ms,
// and every PUBLISH of every node waited behind it; a page of about 500 holds
// it for well under a millisecond. Small keys (Redis's compact encodings) are
// returned whole by the first call whatever the hint.
const scanCount = 500

// scanSet returns the members of the set at key, a page per round trip.
// It is not a snapshot: a member added or removed during the scan may or
// may not be in the result (each present throughout is, exactly once).
func (r *Registry) scanSet(ctx context.Context, key string) ([]string, error) {
	var out []string
	for cursor := uint64(0); ; {
		page, next, err := r.rdb.SScan(ctx, key, cursor, "", scanCount).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if cursor = next; cursor == 0 {
			break
		}
	}
	// SSCAN may return a member twice when the set is rehashed meanwhile.
	slices.Sort(out)
	return slices.Compact(out), nil
}

// scanHash returns the fields and values of the hash at key, a page per
// round trip; like scanSet, not a snapshot.
func (r *Registry) scanHash(ctx context.Context, key string) (map[string]string, error) {
	out := map[string]string{}
	for cursor := uint64(0); ; {
		page, next, err := r.rdb.HScan(ctx, key, cursor, "", scanCount).Result()
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(page); i += 2 {
			out[page[i]] = page[i+1]
		}
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}
