package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"modernc.org/sqlite"

	"github.com/factorgate/factorgate/server/eventstore"
)

// getPool serves Get and GetMany, the store's hottest reads (every
// request reads its token, organization, instance and person documents),
// on read-only connections of its own that it drives through the driver's
// interfaces rather than through database/sql. Each connection has its
// statements prepared; a connection is used by one call at a time, taken
// from and given back to a channel. This skips database/sql's per-call
// work (finding a connection and its copy of the prepared statement, the
// Rows and Row wrappers, Scan's conversions), which cost as much CPU as
// SQLite's own lookup (README, Performance). The other reads stay on
// database/sql.
type getPool struct {
	conns   chan *getConn
	n       int
	closing <-chan struct{}
}

type getConn struct {
	conn               driver.Conn
	get, begin, commit driver.Stmt
	dest               [2]driver.Value
}

const getDocQuery = `SELECT owner, data FROM docs WHERE kind = ? AND id = ?`

// openGetPool opens n connections to the database named by dsn, which
// must make them read-only.
func openGetPool(ctx context.Context, dsn string, n int, closing <-chan struct{}) (*getPool, error) {
	p := &getPool{conns: make(chan *getConn, n), closing: closing}
	drv := &sqlite.Driver{}
	for range n {
		c, err := openGetConn(ctx, drv, dsn)
		if err != nil {
			return p, err
		}
		p.conns <- c
		p.n++
	}
	return p, nil
}

func openGetConn(ctx context.Context, drv *sqlite.Driver, dsn string) (*getConn, error) {
	conn, err := drv.Open(dsn)
	if err != nil {
		return nil, err
	}
	c := &getConn{conn: conn}
	prep, ok := conn.(driver.ConnPrepareContext)
	if !ok {
		_ = conn.Close()
		return nil, errors.New("driver connection cannot prepare with a context")
	}
	for _, st := range []struct {
		to    *driver.Stmt
		query string
	}{{&c.get, getDocQuery}, {&c.begin, "BEGIN"}, {&c.commit, "COMMIT"}} {
		if *st.to, err = prep.PrepareContext(ctx, st.query); err != nil {
			_ = c.close()
			return nil, err
		}
	}
	_, q := c.get.(driver.StmtQueryContext)
	_, b := c.begin.(driver.StmtExecContext)
	_, m := c.commit.(driver.StmtExecContext)
	if !q || !b || !m {
		_ = c.close()
		return nil, errors.New("driver statements cannot run with a context")
	}
	return c, nil
}

func (c *getConn) close() error {
	var errs []error
	for _, st := range []driver.Stmt{c.get, c.begin, c.commit} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(append(errs, c.conn.Close())...)
}

// take waits for a free connection. It returns ctx without its
// cancellation for the statements: a lookup by key takes microseconds, so
// there is nothing to gain by interrupting one, and the driver watches a
// cancellable context with a goroutine of its own for every statement
// (about 4 % of a removal's CPU for the three or four statements of its
// reads). A context already done when the connection is taken ends the
// call there.
func (p *getPool) take(ctx context.Context) (*getConn, context.Context, error) {
	select {
	case c := <-p.conns:
		if err := ctx.Err(); err != nil {
			p.conns <- c
			return nil, nil, err
		}
		return c, context.WithoutCancel(ctx), nil
	case <-p.closing:
		return nil, nil, eventstore.ErrStoreClosed
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// get reads one document; found is false when there is none.
func (p *getPool) get(ctx context.Context, kind, id string) (owner string, data []byte, found bool, err error) {
	c, ctx, err := p.take(ctx)
	if err != nil {
		return "", nil, false, err
	}
	defer func() { p.conns <- c }()
	return c.query(ctx, kind, id)
}

// getMany reads the documents of keys in one read transaction.
func (p *getPool) getMany(ctx context.Context, keys []eventstore.DocKey) (_ []eventstore.Doc, err error) {
	c, ctx, err := p.take(ctx)
	if err != nil {
		return nil, err
	}
	defer func() { p.conns <- c }()
	if _, err := c.begin.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
		return nil, err
	}
	defer func() {
		// Ends the read transaction, also after a failed read.
		if _, cerr := c.commit.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), nil); cerr != nil && err == nil {
			err = cerr
		}
	}()
	out := make([]eventstore.Doc, len(keys))
	for i, k := range keys {
		owner, data, found, err := c.query(ctx, k.Kind, k.ID)
		if err != nil {
			return nil, err
		}
		if found {
			out[i] = eventstore.Doc{Kind: k.Kind, ID: k.ID, Owner: owner, Data: eventstore.NilIfEmpty(data)}
		}
	}
	return out, nil
}

// query runs the document lookup on c.
func (c *getConn) query(ctx context.Context, kind, id string) (owner string, data []byte, found bool, err error) {
	rows, err := c.get.(driver.StmtQueryContext).QueryContext(ctx,
		[]driver.NamedValue{{Ordinal: 1, Value: kind}, {Ordinal: 2, Value: id}})
	if err != nil {
		return "", nil, false, err
	}
	c.dest = [2]driver.Value{}
	err = rows.Next(c.dest[:])
	if cerr := rows.Close(); err == nil || errors.Is(err, io.EOF) {
		if cerr != nil {
			return "", nil, false, cerr
		}
	}
	if errors.Is(err, io.EOF) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, err
	}
	owner, ok := c.dest[0].(string)
	if !ok {
		return "", nil, false, fmt.Errorf("owner column holds %T", c.dest[0])
	}
	switch v := c.dest[1].(type) {
	case nil:
	case []byte: // a copy the driver made for this call
		data = v
	default:
		return "", nil, false, fmt.Errorf("data column holds %T", v)
	}
	c.dest = [2]driver.Value{}
	return owner, data, true, nil
}

// close closes every connection, waiting for the ones in use to come
// back; p.closing must be closed first, so that no new call starts.
func (p *getPool) close() error {
	var errs []error
	for range p.n {
		errs = append(errs, (<-p.conns).close())
	}
	p.n = 0
	return errors.Join(errs...)
}
