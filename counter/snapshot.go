package counter

// Snapshot is a point-in-time view of the counters.
type Snapshot struct {
	MessagesByType map[string]int64 `json:"messages_by_type"`
	ErrorsByKind   map[string]int64 `json:"errors_by_kind"`
	Counters       map[string]int64 `json:"counters"`
	MessagesTotal  int64            `json:"messages_total"`
	ErrorsTotal    int64            `json:"errors_total"`
}
