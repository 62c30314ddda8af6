package counter

import (
	"slices"

	"github.com/wsnode/wsnode/protocol"
)

// Inbound frames are counted by their type: the frame types a client sends
// (protocol.RequestTypes, named by the protocol.TypeXxx constants). Anything
// else is counted as MsgUnknown, so the label set stays fixed whatever
// clients send; a frame that cannot be decoded is counted as MsgInvalid.
const (
	MsgUnknown = "unknown"
	MsgInvalid = "invalid"
)

// Error kinds. Unknown kinds are counted as ErrOther.
const (
	ErrBadRequest     = "bad_request"
	ErrUnauthorized   = "unauthorized"
	ErrForbidden      = "forbidden"
	ErrNotFound       = "not_found"
	ErrRateLimited    = "rate_limited"
	ErrLimit          = "limit"
	ErrInvalidName    = "invalid_name"
	ErrAuthFailed     = "auth_failed"
	ErrAuthTimeout    = "auth_timeout"
	ErrSlowConsumer   = "slow_consumer"
	ErrWriteFailed    = "write_failed"
	ErrPublishFailed  = "publish_failed"
	ErrRegistryFailed = "registry_failed"
	ErrInvalidUTF8    = "invalid_utf8"
	ErrTooBig         = "too_big"
	ErrJoinHookFailed = "join_hook_failed" // the join hook gave no decision: the join failed closed
	ErrOther          = "other"
)

// Event counters.
const (
	CtrConnections    = "connections_total"
	CtrDisconnections = "disconnections_total"
	CtrDelivered      = "delivered_total"
	CtrReaped         = "reaped_connections_total"
	CtrInactiveClosed = "inactive_closed_total"
	CtrReconnects     = "pubsub_reconnects_total"
	CtrReasserts      = "reasserts_total"
	CtrRejected       = "rejected_handshakes_total"
	// CtrAdmissionRefused counts connects refused with 503 because the node
	// had Config.MaxPendingConnects in flight (they are in CtrRejected too).
	CtrAdmissionRefused = "admission_refused_total"
	// History rooms: messages a node read back from the stream to fill a
	// gap in what it received, messages it could not (trimmed or history
	// lost), and duplicates it dropped.
	CtrHistoryRepaired   = "history_repaired_total"
	CtrHistoryLost       = "history_lost_total"
	CtrHistoryDuplicates = "history_duplicates_total"
)

// MessageNames returns every message type that is counted: the client's
// frame types, MsgUnknown and MsgInvalid.
func MessageNames() []string { return append(protocol.RequestTypes(), MsgUnknown, MsgInvalid) }

// ErrorNames returns every error kind that is counted; ErrOther counts the rest.
func ErrorNames() []string { return slices.Clone(errorNames) }

// CounterNames returns every event counter.
func CounterNames() []string { return slices.Clone(counterNames) }

var (
	errorNames = []string{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrRateLimited, ErrLimit,
		ErrInvalidName, ErrAuthFailed, ErrAuthTimeout, ErrSlowConsumer, ErrWriteFailed, ErrPublishFailed,
		ErrRegistryFailed, ErrInvalidUTF8, ErrTooBig, ErrJoinHookFailed, ErrOther}
	counterNames = []string{CtrConnections, CtrDisconnections, CtrDelivered, CtrReaped,
		CtrInactiveClosed, CtrReconnects, CtrReasserts, CtrRejected, CtrAdmissionRefused,
		CtrHistoryRepaired, CtrHistoryLost, CtrHistoryDuplicates}
)
