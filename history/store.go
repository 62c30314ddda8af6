package history

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/wsnode/wsnode/internal/noretry"
)

// Position is a point in a room's history: the offset of the last message
// seen and the epoch it belongs to.
type Position struct {
	Offset uint64 `json:"offset"`
	Epoch  string `json:"epoch"`
}

// Entry is one stored message: its offset and the envelope body exactly as
// it was published (its payload carries offset and epoch).
type Entry struct {
	Offset uint64
	Body   []byte
}

// Published is the outcome of one append-and-publish.
type Published struct {
	Position
	// Receivers is PUBLISH's reply (SPUBLISH's in cluster mode): the number
	// of subscribers (nodes) that received the message.
	Receivers int64
}

// ErrBadPayload is returned when a message's payload is not a JSON object
// to which offset and epoch can be added.
var ErrBadPayload = errors.New("history: payload must end in a non-empty JSON object")

// Store reads and writes room histories. See the package doc.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
}

// New returns a Store on rdb. With cfg.Size == 0 it is valid but Enabled
// reports false for every room. It does not touch Redis.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, errors.New("history: new: nil redis client")
	}
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("history: new: %w", err)
	}
	return &Store{rdb: rdb, cfg: cfg}, nil
}

// Size returns the configured number of messages kept per room (0 = off).
func (s *Store) Size() int { return s.cfg.Size }

// Enabled reports whether room keeps history.
func (s *Store) Enabled(room string) bool {
	if s == nil || s.cfg.Size == 0 {
		return false
	}
	if len(s.cfg.Rooms) == 0 {
		return true
	}
	for _, p := range s.cfg.Rooms {
		if ok, _ := path.Match(p, room); ok { // patterns were validated by New
			return true
		}
	}
	return false
}

// Load loads the scripts into Redis. Queue uses EVALSHA inside pipelines,
// where go-redis cannot fall back to EVAL; a caller that sees IsNoScript
// calls Load and queues the failed messages again (they did not run).
func (s *Store) Load(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.appendScript(), readScript} {
		if err := sc.Load(ctx, s.rdb).Err(); err != nil {
			return fmt.Errorf("history: load scripts: %w", err)
		}
	}
	return nil
}

// IsNoScript reports whether err means Redis did not know the script (a
// fresh or restarted Redis): the command did not run.
func IsNoScript(err error) bool { return err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") }

// Queue adds the append-and-publish of one message of room to the pipeline
// p and returns a function that reads its outcome after p was executed.
// body is the envelope body to publish on channel; its payload (its last
// bytes) must be a JSON object, to which the script adds "offset" and
// "epoch". The stored entry is the completed body. The command is sent at
// most once (package noretry): a retry after a lost reply would store and
// publish the message twice.
func (s *Store) Queue(ctx context.Context, p redis.Pipeliner, room, channel string, body []byte) (func() (Published, error), error) {
	args, err := s.appendArgs("evalsha", s.appendScript().Hash(), room, channel, body)
	if err != nil {
		return nil, err
	}
	c, res := noretry.Cmd(ctx, args...)
	_ = p.Process(ctx, c) // queues; errors come from Exec
	return func() (Published, error) { return parsePublished(res) }, nil
}

// Publish appends and publishes one message in its own round trip (see
// Queue), falling back to EVAL when Redis lacks the script (a NOSCRIPT
// reply means the first command did not run).
func (s *Store) Publish(ctx context.Context, room, channel string, body []byte) (Published, error) {
	args, err := s.appendArgs("evalsha", s.appendScript().Hash(), room, channel, body)
	if err != nil {
		return Published{}, err
	}
	c, res := noretry.Cmd(ctx, args...)
	_ = s.rdb.Process(ctx, c)
	if IsNoScript(res.Err()) {
		args[0], args[1] = "eval", s.appendSource()
		c, res = noretry.Cmd(ctx, args...)
		_ = s.rdb.Process(ctx, c)
	}
	return parsePublished(res)
}

// appendArgs builds the command line of the append script.
func (s *Store) appendArgs(verb, script, room, channel string, body []byte) ([]any, error) {
	head, err := openObject(body)
	if err != nil {
		return nil, err
	}
	return []any{verb, script, 2, s.stream(room), s.meta(room),
		channel, head, s.cfg.Size, s.cfg.TTL.Milliseconds(), newEpoch()}, nil
}

// appendScript and appendSource are the append script of the store's mode.
func (s *Store) appendScript() *redis.Script {
	if s.cfg.Cluster {
		return appendClusterScript
	}
	return appendScript
}

func (s *Store) appendSource() string {
	if s.cfg.Cluster {
		return appendClusterSrc
	}
	return appendSrc
}

// openObject returns body without the closing brace of its payload.
func openObject(body []byte) ([]byte, error) {
	b := bytes.TrimRight(body, " \t\r\n")
	if len(b) < 2 || b[len(b)-1] != '}' || b[len(b)-2] == '{' {
		return nil, ErrBadPayload
	}
	return b[:len(b)-1], nil
}

func parsePublished(cmd *redis.Cmd) (Published, error) {
	v, err := cmd.Slice()
	if err != nil {
		return Published{}, fmt.Errorf("history: append: %w", err)
	}
	if len(v) != 3 {
		return Published{}, fmt.Errorf("history: append: unexpected reply %v", v)
	}
	off, ok1 := v[0].(int64)
	epoch, ok2 := v[1].(string)
	n, ok3 := v[2].(int64)
	if !ok1 || !ok2 || !ok3 || off <= 0 {
		return Published{}, fmt.Errorf("history: append: unexpected reply %v", v)
	}
	return Published{Position: Position{Offset: uint64(off), Epoch: epoch}, Receivers: n}, nil
}

// newEpoch returns a random epoch id; the script uses it only when it
// starts a room's history.
func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// Current returns room's position: the last offset handed out and the
// epoch. A room without history has the zero Position.
func (s *Store) Current(ctx context.Context, room string) (Position, error) {
	m, err := s.rdb.HMGet(ctx, s.meta(room), "epoch", "offset").Result()
	if err != nil {
		return Position{}, fmt.Errorf("history: position: %w", err)
	}
	e, _ := m[0].(string)
	o, _ := m[1].(string)
	off, _ := strconv.ParseUint(o, 10, 64)
	if e == "" {
		return Position{}, nil
	}
	return Position{Offset: off, Epoch: e}, nil
}

// Recover returns the messages of room after since, in order, when the
// history still holds all of them and since's epoch is the room's: then
// recovered is true. Otherwise recovered is false and entries is empty:
// the epoch changed or is unknown, messages after since were trimmed, more
// than Size were missed, or the room has no history. cur is the room's
// position at the time of the read either way.
func (s *Store) Recover(ctx context.Context, room string, since Position) (entries []Entry, cur Position, recovered bool, err error) {
	st, err := s.read(ctx, room, "since", since.Offset, s.cfg.Size)
	if err != nil {
		return nil, Position{}, false, err
	}
	cur = st.cur
	switch {
	case cur.Epoch == "" || since.Epoch != cur.Epoch || since.Offset > cur.Offset:
		return nil, cur, false, nil
	case since.Offset == cur.Offset:
		return nil, cur, true, nil
	case cur.Offset-since.Offset > uint64(s.cfg.Size), st.first == 0, since.Offset+1 < st.first:
		return nil, cur, false, nil
	}
	// Entries past cur (appended after the meta read) cannot occur: the
	// read is one script. Keep only what fits the window exactly.
	return st.entries, cur, uint64(len(st.entries)) == cur.Offset-since.Offset, nil
}

// Last returns up to limit of room's newest messages, oldest first, and the
// room's position. limit is clipped to Size.
func (s *Store) Last(ctx context.Context, room string, limit int) ([]Entry, Position, error) {
	limit = s.clip(limit)
	st, err := s.read(ctx, room, "last", 0, limit)
	if err != nil {
		return nil, Position{}, err
	}
	for i, j := 0, len(st.entries)-1; i < j; i, j = i+1, j-1 {
		st.entries[i], st.entries[j] = st.entries[j], st.entries[i]
	}
	return st.entries, st.cur, nil
}

// After returns up to limit messages of room after offset, oldest first,
// and the room's position (whatever its epoch: the caller compares).
// limit is clipped to Size.
func (s *Store) After(ctx context.Context, room string, offset uint64, limit int) ([]Entry, Position, error) {
	st, err := s.read(ctx, room, "since", offset, s.clip(limit))
	if err != nil {
		return nil, Position{}, err
	}
	return st.entries, st.cur, nil
}

func (s *Store) clip(limit int) int {
	if limit <= 0 || limit > s.cfg.Size {
		return s.cfg.Size
	}
	return limit
}

type readState struct {
	cur     Position
	first   uint64
	entries []Entry
}

func (s *Store) read(ctx context.Context, room, mode string, offset uint64, count int) (readState, error) {
	if count <= 0 {
		count = 1
	}
	v, err := readScript.Run(ctx, s.rdb, []string{s.stream(room), s.meta(room)},
		mode, offset, count).Slice()
	if err != nil {
		return readState{}, fmt.Errorf("history: read: %w", err)
	}
	return parseRead(v)
}

func parseRead(v []any) (readState, error) {
	bad := func() (readState, error) {
		return readState{}, fmt.Errorf("history: read: unexpected reply of %d items", len(v))
	}
	if len(v) < 3 || (len(v)-3)%2 != 0 {
		return bad()
	}
	epoch, ok1 := v[0].(string)
	cur, ok2 := v[1].(int64)
	first, ok3 := v[2].(int64)
	if !ok1 || !ok2 || !ok3 {
		return bad()
	}
	st := readState{cur: Position{Offset: uint64(cur), Epoch: epoch}, first: uint64(first)}
	if epoch == "" {
		st.cur = Position{}
	}
	for i := 3; i < len(v); i += 2 {
		id, _ := v[i].(string)
		body, _ := v[i+1].(string)
		ms, _, _ := strings.Cut(id, "-")
		off, err := strconv.ParseUint(ms, 10, 64)
		if err != nil {
			return bad()
		}
		st.entries = append(st.entries, Entry{Offset: off, Body: []byte(body)})
	}
	return st, nil
}

// TTL returns the configured history TTL.
func (s *Store) TTL() time.Duration { return s.cfg.TTL }
