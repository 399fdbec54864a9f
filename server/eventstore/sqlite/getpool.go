package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"

	"modernc.org/sqlite"
)

// getPool serves Get, the store's hottest read (every request reads its
// token, organization, instance and person documents), on read-only
// connections of its own that it drives through the driver's interfaces
// rather than through database/sql. Each connection has the one statement
// prepared; a connection is used by one Get at a time, taken from and given
// back to a channel. This skips database/sql's per-call work (finding a
// connection and its copy of the prepared statement, the Rows and Row
// wrappers, Scan's conversions), which cost as much CPU as SQLite's own
// lookup (README, Performance). The other reads stay on database/sql.
type getPool struct {
	conns   chan *getConn
	n       int
	closing <-chan struct{}
}

type getConn struct {
	conn driver.Conn
	stmt driver.Stmt
	dest [2]driver.Value
}

const getDocQuery = `SELECT owner, data FROM docs WHERE kind = ? AND id = ?`

// openGetPool opens n connections to the database named by dsn, which
// must make them read-only.
func openGetPool(ctx context.Context, dsn string, n int, closing <-chan struct{}) (*getPool, error) {
	p := &getPool{conns: make(chan *getConn, n), closing: closing}
	drv := &sqlite.Driver{}
	for range n {
		c, err := drv.Open(dsn)
		if err != nil {
			return p, err
		}
		prep, ok := c.(driver.ConnPrepareContext)
		if !ok {
			_ = c.Close()
			return p, errors.New("driver connection cannot prepare with a context")
		}
		st, err := prep.PrepareContext(ctx, getDocQuery)
		if err != nil {
			_ = c.Close()
			return p, err
		}
		if _, ok := st.(driver.StmtQueryContext); !ok {
			_ = st.Close()
			_ = c.Close()
			return p, errors.New("driver statement cannot query with a context")
		}
		p.conns <- &getConn{conn: c, stmt: st}
		p.n++
	}
	return p, nil
}

// get reads one document; found is false when there is none.
func (p *getPool) get(ctx context.Context, kind, id string) (owner string, data []byte, found bool, err error) {
	var c *getConn
	select {
	case c = <-p.conns:
	case <-p.closing:
		return "", nil, false, errClosed
	case <-ctx.Done():
		return "", nil, false, ctx.Err()
	}
	defer func() { p.conns <- c }()
	rows, err := c.stmt.(driver.StmtQueryContext).QueryContext(ctx,
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
// back; p.closing must be closed first, so that no new get starts.
func (p *getPool) close() error {
	var errs []error
	for range p.n {
		c := <-p.conns
		errs = append(errs, c.stmt.Close(), c.conn.Close())
	}
	p.n = 0
	return errors.Join(errs...)
}
