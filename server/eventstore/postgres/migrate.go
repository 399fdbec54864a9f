package postgres

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/factorgate/factorgate/server/eventstore"
)

// migrationFiles holds the schema (eventstore.Migrations).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLockKey is the first key of the transaction-level advisory lock
// that migrations run under; the second is a hash of the schema they go
// into, so stores in different schemas of one database do not wait for
// each other.
const migrateLockKey = 0x66670001 // "fg", 1

// migrate brings the schema up to date in one transaction that first takes
// an advisory lock: replicas starting at once on one database queue on the
// lock, the first applies what is missing, the others find it applied.
// PostgreSQL's DDL is transactional, so a failed migration leaves nothing
// behind.
func migrate(ctx context.Context, pool *pgxpool.Pool) error {
	ms, err := eventstore.Migrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, int32(migrateLockKey)); err != nil {
			return fmt.Errorf("migrate: lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     NOT NULL PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.SQL); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.Version, m.Name); err != nil {
				return fmt.Errorf("migrate: %s: %w", m.Name, err)
			}
		}
		return nil
	})
}
