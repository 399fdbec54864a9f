package sqlite

import (
	"testing"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Test access to the group commit: a hook run after a group's first batch
// is taken, the number of Appends in flight, and the commit statistics;
// and the number of migrations.

func (s *Store) SetGroupHook(f func()) { s.group.SetHook(f) }

func (s *Store) InFlight() int64 { return s.group.InFlight() }

// GroupsRedone returns how many groups were written again with a savepoint
// for each batch, after a batch failed in the first try.
func (s *Store) GroupsRedone() int64 { return s.redone.Load() }

// MigrationCount returns the number of the store's migration files.
func MigrationCount(t *testing.T) int {
	ms, err := eventstore.Migrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

// HoldReader takes a document reader connection as a read in progress
// would; release serves what queued meanwhile and gives it back.
func (s *Store) HoldReader() (release func()) {
	s.gets.mu.Lock()
	c := <-s.gets.conns
	s.gets.busy++
	s.gets.mu.Unlock()
	return func() { s.gets.handOn(c) }
}

// SpillQueue is how many reads wait before a read takes one more
// connection.
const SpillQueue = spillQueue

// QueuedReads returns how many reads wait in the queue.
func (s *Store) QueuedReads() int {
	s.gets.mu.Lock()
	defer s.gets.mu.Unlock()
	return len(s.gets.queue)
}
