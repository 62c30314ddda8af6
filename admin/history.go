package admin

import (
	"net/http"
	"strconv"

	"github.com/wsnode/wsnode/node"
)

// history serves GET /rooms/{room}/history?limit=N&since=O&epoch=E: the
// newest N messages of a room that keeps history, or with since and epoch
// those after that position (see node.HistoryPage). limit is clipped to the
// history size; 0 or absent means all it holds.
func (a *api) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 0
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be an integer >= 0")
			return
		}
		limit = n
	}
	var since *node.Position
	if s, e := q.Get("since"), q.Get("epoch"); s != "" || e != "" {
		off, err := strconv.ParseUint(s, 10, 64)
		if err != nil || e == "" {
			writeError(w, http.StatusBadRequest, "bad_request", "since must be an integer >= 0, given together with epoch")
			return
		}
		since = &node.Position{Offset: off, Epoch: e}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	page, err := a.c.History(ctx, r.PathValue("room"), limit, since)
	if err != nil {
		fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}
