package registry

import (
	"context"
	"slices"
	"time"

	"github.com/wsnode/wsnode/internal/keyspace"
)

// cSample sums the connection index buckets and raises the peak to the sum;
// it returns the peak.
func (r *Registry) cSample(ctx context.Context) (int64, error) {
	active, err := r.sumCards(ctx, buckets(r.ck.Conns))
	if err != nil {
		return 0, err
	}
	return r.samplePeak(ctx, active)
}

// cReassert is Reassert in cluster mode: the node joins its index bucket,
// conns are registered in batches (cRegister's ordered steps, each step
// pipelined over the batch), then dropStale removes what the node no longer
// holds.
func (r *Registry) cReassert(ctx context.Context, conns []Conn) error {
	start := r.now()
	node := r.cfg.NodeID
	if err := r.rdb.SAdd(ctx, r.ck.Nodes(keyspace.Bucket(node)), node).Err(); err != nil {
		return err
	}
	held := make(map[string]struct{}, len(conns))
	for i := range conns {
		if err := normalize(&conns[i]); err != nil {
			return err
		}
		held[conns[i].ID] = struct{}{}
	}
	for batch := range slices.Chunk(conns, reassertBatch) {
		if err := r.cRegister(ctx, batch, start); err != nil {
			return err
		}
	}
	return r.cDropStale(ctx, held, start.Add(-r.cfg.HeartbeatTTL), r.takeover.dropForeign())
}

// cDropStale removes the ids in this node's set that it does not hold, by
// the rules of dropStaleSrc: no record (and no change of this process under
// way for it): always; this incarnation's: if registered before cutoff;
// another incarnation's: if dropForeign. An id whose record names another
// node only leaves this node's set. Removal is cRemove's ordered steps.
func (r *Registry) cDropStale(ctx context.Context, held map[string]struct{}, cutoff time.Time, dropForeign bool) error {
	node := r.cfg.NodeID
	defer r.watch()()
	ids, err := r.scanSet(ctx, r.ck.NodeConns(node))
	if err != nil {
		return err
	}
	stale := notHeld(ids, held)
	for batch := range slices.Chunk(stale, reassertBatch) {
		recs, err := r.cRead(ctx, batch)
		if err != nil {
			return err
		}
		var rm []string
		var rmRecs []cRecord
		var moved []string
		for i, id := range batch {
			rec := recs[i]
			if r.busy(id) {
				continue // a change of this process is (or was just) writing it
			}
			var drop bool
			switch {
			case !rec.exists:
				drop = true
			case rec.inc == r.inc:
				at := fieldInt(rec.connectedAt)
				drop = rec.connectedAt == "" || at < ms(cutoff)
			default:
				drop = dropForeign
			}
			switch {
			case !drop:
			case rec.node == "" || rec.node == node:
				rm, rmRecs = append(rm, id), append(rmRecs, rec)
			default:
				moved = append(moved, id)
			}
		}
		if len(rm) > 0 {
			done := r.begin(rm...)
			_, err := r.cRemove(ctx, "dropstale", rm, rmRecs, node, nil)
			done()
			if err != nil {
				return err
			}
		}
		if len(moved) > 0 {
			if err := r.rdb.SRem(ctx, r.ck.NodeConns(node), anys(moved)...).Err(); err != nil {
				return err
			}
		}
	}
	return nil
}
