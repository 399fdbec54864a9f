package sqlite

// Test access to the group commit: a hook run after a group's first batch
// is taken, the number of Appends in flight, and the commit statistics.

func (s *Store) SetGroupHook(f func()) { s.group.SetHook(f) }

func (s *Store) InFlight() int64 { return s.group.InFlight() }
