package history

import "github.com/wsnode/wsnode/internal/keyspace"

// streamKey and metaKey name a room's history keys in single mode; see the
// package doc.
func streamKey(prefix, room string) string { return prefix + ":history:{" + room + "}" }
func metaKey(prefix, room string) string   { return prefix + ":historymeta:{" + room + "}" }

// stream returns the name of room's history stream in the store's mode.
func (s *Store) stream(room string) string {
	if s.cfg.Cluster {
		return keyspace.New(s.cfg.Prefix).History(room)
	}
	return streamKey(s.cfg.Prefix, room)
}

// meta returns the name of room's history metadata hash in the store's mode.
func (s *Store) meta(room string) string {
	if s.cfg.Cluster {
		return keyspace.New(s.cfg.Prefix).HistoryMeta(room)
	}
	return metaKey(s.cfg.Prefix, room)
}
