package eventstore

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
)

// GroupCommit is the group commit of the SQL stores. One goroutine owns
// the writer: Append hands it a batch and waits; the batches that arrive
// while it commits wait too, and the next group takes all of them (up to
// the maximum), which the store's commit function writes in one
// transaction, setting each Pending's outcome. A caller is answered only
// after its group's commit, even if its context ends meanwhile: once
// handed over, a batch may commit, so a caller that lost a race reloads
// state that already has the winner's events.
type GroupCommit struct {
	max    int
	commit func(group []*Pending)

	queue     chan *Pending // unbuffered: a batch is handed over or not at all
	closing   chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once

	pending, groups, batches atomic.Int64
	hook                     func() // test hook: run after a group's first batch is taken
}

// Pending is one Append waiting for its group's commit: the caller's
// context and batch, and the outcome the commit function sets.
type Pending struct {
	Ctx   context.Context
	Batch Batch
	Out   []Event
	Err   error
	done  chan struct{}
}

// ErrStoreClosed answers a call after Close.
var ErrStoreClosed = errors.New("store is closed")

// NewGroupCommit starts the committing goroutine; Close stops it.
func NewGroupCommit(maxGroup int, commit func(group []*Pending)) *GroupCommit {
	g := &GroupCommit{max: maxGroup, commit: commit,
		queue: make(chan *Pending), closing: make(chan struct{}), stopped: make(chan struct{})}
	go g.loop()
	return g
}

// Append hands b to the committer and returns its outcome after its
// group's commit. It fails without writing anything when the committer is
// closing or ctx ends before b was handed over.
func (g *GroupCommit) Append(ctx context.Context, b Batch) ([]Event, error) {
	select {
	case <-g.closing:
		return nil, ErrStoreClosed
	default:
	}
	p := &Pending{Ctx: ctx, Batch: b, done: make(chan struct{})}
	g.pending.Add(1)
	defer g.pending.Add(-1)
	select {
	case g.queue <- p:
	case <-g.closing:
		return nil, ErrStoreClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	<-p.done
	return p.Out, p.Err
}

func (g *GroupCommit) loop() {
	defer close(g.stopped)
	group := make([]*Pending, 0, g.max)
	for {
		group = group[:0]
		select {
		case p := <-g.queue:
			group = append(group, p)
			if g.hook != nil {
				g.hook()
			}
		case <-g.closing:
			return // the queue is unbuffered: nothing waits in it
		}
	fill:
		for len(group) < g.max {
			select {
			case p := <-g.queue:
				group = append(group, p)
			default:
				break fill
			}
		}
		g.commit(group)
		g.groups.Add(1)
		g.batches.Add(int64(len(group)))
		for _, p := range group {
			close(p.done)
		}
	}
}

// Close stops taking batches and waits for the group being committed.
// Calling it again is harmless.
func (g *GroupCommit) Close() {
	g.closeOnce.Do(func() {
		close(g.closing)
		<-g.stopped
	})
}

// Stats returns how many groups were committed and how many appends they
// carried.
func (g *GroupCommit) Stats() (groups, batches int64) { return g.groups.Load(), g.batches.Load() }

// InFlight is the number of Appends that have not returned.
func (g *GroupCommit) InFlight() int64 { return g.pending.Load() }

// SetHook sets a function run after a group's first batch is taken (tests
// use it to gather a group); set it before the appends it should see.
func (g *GroupCommit) SetHook(f func()) { g.hook = f }
