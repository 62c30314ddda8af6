package main

import "strconv"

// Role says what a connection does in a run.
type Role uint8

const (
	roleReceiver  Role = iota // joins its room (if any) and counts deliveries
	rolePublisher             // sends on an open-loop schedule
)

// Slot describes connection i of the run, the same way in every process.
// Receivers come first (0 .. Receivers-1), then publishers.
type Slot struct {
	Index  int
	Role   Role
	Pub    int    // publisher index (publishers only)
	User   string // JWT subject
	Room   string // room to join, "" for none
	Node   int    // index into Config.URLs
	Target int    // rooms: room index; direct: receiver user index; -1 if none
}

// Slot returns the layout of connection i. Members of one room sit on
// consecutive indices but are spread round-robin over the nodes, so every
// room has members on every node.
func (c *Config) Slot(i int) Slot {
	nodes := len(c.URLs)
	if r := c.Receivers(); i >= r {
		j := i - r
		s := Slot{Index: i, Role: rolePublisher, Pub: j, Node: j % nodes, Target: -1,
			User: c.Prefix + "-p" + strconv.Itoa(j)}
		if c.Scenario == scRooms {
			s.Target = j / c.Pubs
			if c.PubJoin {
				s.Room = c.RoomName(s.Target)
			}
		}
		return s
	}
	s := Slot{Index: i, Role: roleReceiver, Node: i % nodes, Target: -1,
		User: c.Prefix + "-r" + strconv.Itoa(i)}
	switch c.Scenario {
	case scDirect:
		s.Target = i
	default:
		s.Target = i / c.Members
		if !c.NoJoin || c.Scenario == scRooms {
			s.Room = c.RoomName(s.Target)
		}
	}
	return s
}

// RoomName is the name of room r.
func (c *Config) RoomName(r int) string { return c.Prefix + "-room" + strconv.Itoa(r) }

// ReceiverUser is the user name of receiver i (the target of direct sends).
func (c *Config) ReceiverUser(i int) string { return c.Prefix + "-r" + strconv.Itoa(i) }

// WorkerOf is the worker process that owns connection i.
func (c *Config) WorkerOf(i int) int { return i % c.Procs }

// WorkerSlots lists the connections that worker w owns.
func (c *Config) WorkerSlots(w int) []Slot {
	var out []Slot
	for i := w; i < c.Sockets(); i += c.Procs {
		out = append(out, c.Slot(i))
	}
	return out
}

// SeqLimit bounds the sequence numbers of one publisher over the whole run
// (warm-up included), used to size duplicate-detection bitsets.
func (c *Config) SeqLimit() int64 {
	rate := MsgRate(c.Rate, c.Fanout()) / float64(c.Publishers())
	return int64(rate*(c.Warmup+c.Duration).Seconds()) + 2
}
