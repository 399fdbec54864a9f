package postgres

import (
	"testing"

	"github.com/factorgate/factorgate/server/eventstore"
)

// Test access to the group commit: a hook run after a group's first batch
// is taken, the number of Appends in flight, the commit statistics, and
// how many groups failed and were sent again batch by batch, and the
// number of migrations.

func (s *Store) SetGroupHook(f func()) { s.group.SetHook(f) }

func (s *Store) InFlight() int64 { return s.group.InFlight() }

func (s *Store) Resent() int64 { return s.resent.Load() }

// MigrationCount returns the number of the store's migration files.
func MigrationCount(t *testing.T) int {
	ms, err := eventstore.Migrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}
