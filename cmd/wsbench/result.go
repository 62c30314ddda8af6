package main

// WorkerResult is what one worker process reports; the coordinator merges
// the results of all workers with Merge.
type WorkerResult struct {
	Workers int `json:"workers"`

	// Connections.
	Attempted   int64            `json:"attempted"`
	Connected   int64            `json:"connected"`
	Failures    map[string]int64 `json:"failures,omitempty"` // by stage
	FailSamples []string         `json:"fail_samples,omitempty"`
	ByNode      []int64          `json:"by_node"`         // connected sockets per node
	ConnectLat  HistSnapshot     `json:"connect_latency"` // dial to joined, ns
	ConnStart   int64            `json:"conn_start"`      // first dial, unix ns
	ConnEnd     int64            `json:"conn_end"`        // last joined, unix ns

	// Sending, measured window only unless noted.
	Sent       []int64      `json:"sent,omitempty"`    // per target
	Members    []int64      `json:"members,omitempty"` // receivers per target
	SentAll    int64        `json:"sent_all"`          // including warm-up
	SendErrors int64        `json:"send_errors"`
	SendLag    HistSnapshot `json:"send_lag"`   // actual - scheduled send time, ns
	WriteTime  HistSnapshot `json:"write_time"` // duration of each send's write call, ns

	// Receiving.
	Received    int64             `json:"received"`
	Dups        int64             `json:"dups"`
	Strays      int64             `json:"strays"`
	Warmup      int64             `json:"warmup"`
	Echoes      int64             `json:"echoes"`
	ErrFrames   int64             `json:"error_frames"`
	ErrSamples  []string          `json:"error_samples,omitempty"`
	Disconnects map[string]int64  `json:"disconnects,omitempty"`
	Latency     HistSnapshot      `json:"latency"`
	Timeline    *TimelineSnapshot `json:"timeline,omitempty"` // worst latency per 100 ms

	// Generator cost over the measurement window.
	CPU         float64 `json:"cpu_s"`
	WindowStart int64   `json:"window_start"`
	WindowEnd   int64   `json:"window_end"`
	MaxRSSKiB   int64   `json:"max_rss_kib"`
}

// Merge folds o into r.
func (r *WorkerResult) Merge(o *WorkerResult) {
	r.Workers += o.Workers
	r.Attempted += o.Attempted
	r.Connected += o.Connected
	r.Failures = mergeCounts(r.Failures, o.Failures)
	r.FailSamples = appendCapped(r.FailSamples, o.FailSamples, 5)
	r.ByNode = addSlices(r.ByNode, o.ByNode)
	r.ConnectLat = r.ConnectLat.Merge(o.ConnectLat)
	r.ConnStart = minNonZero(r.ConnStart, o.ConnStart)
	r.ConnEnd = max(r.ConnEnd, o.ConnEnd)

	r.Sent = addSlices(r.Sent, o.Sent)
	r.Members = addSlices(r.Members, o.Members)
	r.SentAll += o.SentAll
	r.SendErrors += o.SendErrors
	r.SendLag = r.SendLag.Merge(o.SendLag)
	r.WriteTime = r.WriteTime.Merge(o.WriteTime)

	r.Received += o.Received
	r.Dups += o.Dups
	r.Strays += o.Strays
	r.Warmup += o.Warmup
	r.Echoes += o.Echoes
	r.ErrFrames += o.ErrFrames
	r.ErrSamples = appendCapped(r.ErrSamples, o.ErrSamples, 5)
	r.Disconnects = mergeCounts(r.Disconnects, o.Disconnects)
	r.Latency = r.Latency.Merge(o.Latency)
	r.Timeline = r.Timeline.Merge(o.Timeline)

	r.CPU += o.CPU
	r.WindowStart = minNonZero(r.WindowStart, o.WindowStart)
	r.WindowEnd = max(r.WindowEnd, o.WindowEnd)
	r.MaxRSSKiB = max(r.MaxRSSKiB, o.MaxRSSKiB)
}

// Expected is the number of deliveries the measured sends should produce:
// for every target, messages sent to it times receivers joined to it.
func (r *WorkerResult) Expected() int64 {
	var n int64
	for t, s := range r.Sent {
		if t < len(r.Members) {
			n += s * r.Members[t]
		}
	}
	return n
}

// SentMeasured is the number of messages sent inside the window.
func (r *WorkerResult) SentMeasured() int64 {
	var n int64
	for _, s := range r.Sent {
		n += s
	}
	return n
}

// FailedTotal is the number of failed connection attempts.
func (r *WorkerResult) FailedTotal() int64 {
	var n int64
	for _, v := range r.Failures {
		n += v
	}
	return n
}

func mergeCounts(a, b map[string]int64) map[string]int64 {
	if len(b) == 0 {
		return a
	}
	if a == nil {
		a = make(map[string]int64, len(b))
	}
	for k, v := range b {
		a[k] += v
	}
	return a
}

func addSlices(a, b []int64) []int64 {
	if len(b) > len(a) {
		a = append(a, make([]int64, len(b)-len(a))...)
	}
	for i, v := range b {
		a[i] += v
	}
	return a
}

func appendCapped(a, b []string, n int) []string {
	for _, s := range b {
		if len(a) >= n {
			break
		}
		a = append(a, s)
	}
	return a
}

func minNonZero(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}
