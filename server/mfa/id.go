package mfa

import (
	"strconv"
	"sync"
	"time"
)

// IDs are time-ordered 53-bit integers rendered as decimal strings, so every
// id is a safe integer for JSON clients (≤ 2^53 − 1):
//
//	38 bits  time in 10 ms units since idEpoch (about 87 years)
//	 7 bits  node (0–127): unique per replica sharing a database
//	 8 bits  sequence within one 10 ms tick (256 ids per tick per node)
const (
	idTimeBits = 38
	idNodeBits = 7
	idSeqBits  = 8
	// MaxNode is the largest node number an IDGenerator accepts.
	MaxNode = 1<<idNodeBits - 1
)

var idEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// IDGenerator issues unique ids for one node.
type IDGenerator struct {
	mu   sync.Mutex
	node int64
	now  func() time.Time
	tick int64
	seq  int64
}

// NewIDGenerator returns a generator for node (0 to MaxNode).
func NewIDGenerator(node int, now func() time.Time) *IDGenerator {
	if now == nil {
		now = time.Now
	}
	return &IDGenerator{node: int64(node) & MaxNode, now: now}
}

// Next returns a new id.
func (g *IDGenerator) Next() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.now().Sub(idEpoch).Milliseconds() / 10
	if t < g.tick {
		t = g.tick // the clock went back: keep counting on the last tick
	}
	if t == g.tick {
		g.seq++
		if g.seq >= 1<<idSeqBits {
			// The tick is used up: borrow the next one. Ids stay unique and
			// ordered; the generator runs at most slightly ahead of the clock.
			g.tick++
			g.seq = 0
		}
	} else {
		g.tick = t
		g.seq = 0
	}
	id := (g.tick&(1<<idTimeBits-1))<<(idNodeBits+idSeqBits) | g.node<<idSeqBits | g.seq
	return strconv.FormatInt(id, 10)
}
