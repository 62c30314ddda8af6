package history

// streamKey and metaKey name a room's history keys; see the package doc.
func streamKey(prefix, room string) string { return prefix + ":history:{" + room + "}" }
func metaKey(prefix, room string) string   { return prefix + ":historymeta:{" + room + "}" }
