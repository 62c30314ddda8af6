package main

import "sync/atomic"

// seenSet remembers which message keys a receiver has seen, to count
// duplicates. testAndSet reports whether key was already set, and ok=false
// when key is out of range (a message the run never scheduled).
type seenSet interface {
	testAndSet(key int64) (dup, ok bool)
}

// bitset is a fixed-size set owned by one goroutine.
type bitset struct {
	words []uint64
	limit int64
}

// newBitset returns a set for keys in [0, limit). Its words are allocated
// on first use, so idle connections pay nothing.
func newBitset(limit int64) *bitset { return &bitset{limit: limit} }

func (b *bitset) testAndSet(key int64) (dup, ok bool) {
	if key < 0 || key >= b.limit {
		return false, false
	}
	if b.words == nil {
		b.words = make([]uint64, (b.limit+63)/64)
	}
	w, m := key/64, uint64(1)<<(uint64(key)%64)
	dup = b.words[w]&m != 0
	b.words[w] |= m
	return dup, true
}

// atomicBitset is a fixed-size set shared by many goroutines.
type atomicBitset struct {
	words []atomic.Uint64
	limit int64
}

func newAtomicBitset(limit int64) *atomicBitset {
	return &atomicBitset{words: make([]atomic.Uint64, (limit+63)/64), limit: limit}
}

func (b *atomicBitset) testAndSet(key int64) (dup, ok bool) {
	if key < 0 || key >= b.limit {
		return false, false
	}
	w, m := &b.words[key/64], uint64(1)<<(uint64(key)%64)
	return w.Or(m)&m != 0, true
}
