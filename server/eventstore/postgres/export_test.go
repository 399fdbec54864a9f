package postgres

// Test access to the group commit: a hook run after a group's first batch
// is taken, the number of Appends in flight, the commit statistics, and
// how many groups failed and were sent again batch by batch.

func (s *Store) SetGroupHook(f func()) { s.group.SetHook(f) }

func (s *Store) InFlight() int64 { return s.group.InFlight() }

func (s *Store) Resent() int64 { return s.resent.Load() }
