package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"time"

	"github.com/factorgate/factorgate/server/eventstore"
)

// migrationFiles holds the schema (eventstore.Migrations).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrate applies the migrations db lacks, each in its own transaction
// together with its schema_migrations row. db must be the writer (its
// transactions are BEGIN IMMEDIATE, so concurrent openers of the same file
// apply each migration once).
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := eventstore.Migrations(migrationFiles)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT    NOT NULL,
		applied_at INTEGER NOT NULL -- Unix microseconds
	) STRICT`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var current int
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > len(ms) {
		return fmt.Errorf("migrate: database schema version %d is newer than this program's %d", current, len(ms))
	}
	for _, m := range ms[current:] {
		if err := apply(ctx, db, m); err != nil {
			return fmt.Errorf("migrate: %s: %w", m.Name, err)
		}
	}
	return nil
}

func apply(ctx context.Context, db *sql.DB, m eventstore.Migration) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var done bool
	if err := tx.QueryRowContext(ctx, `SELECT count(*) > 0 FROM schema_migrations WHERE version = ?`, m.Version).Scan(&done); err != nil {
		return err
	}
	if done { // another process applied it since we looked
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		m.Version, m.Name, time.Now().UnixMicro()); err != nil {
		return err
	}
	return tx.Commit()
}
