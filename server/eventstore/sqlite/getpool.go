package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strings"

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
	// many[n-2] reads n documents in one statement (manyQuery).
	many [maxOneStatement - 1]driver.Stmt
	dest [3]driver.Value
	args []driver.NamedValue
}

const getDocQuery = `SELECT owner, data FROM docs WHERE kind = ? AND id = ?`

// maxOneStatement is the most documents getMany reads with one statement
// (a request reads four); more are read one statement each inside a read
// transaction.
const maxOneStatement = 8

// manyQuery reads n documents in one statement: n point lookups joined by
// UNION ALL, each on the primary key, each row tagged with its key's
// index. One statement reads one snapshot of the database (SQLite holds
// its read transaction from the first step until the statement is
// reset), so it needs no BEGIN and COMMIT around it; and it costs one
// statement's bind, step and reset instead of n (README, Performance).
func manyQuery(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&b, "SELECT %d, owner, data FROM docs WHERE kind = ?%d AND id = ?%d", i, 2*i+1, 2*i+2)
	}
	return b.String()
}

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
	for i := range c.many {
		if c.many[i], err = prep.PrepareContext(ctx, manyQuery(i+2)); err != nil {
			_ = c.close()
			return nil, err
		}
		if _, ok := c.many[i].(driver.StmtQueryContext); !ok {
			_ = c.close()
			return nil, errors.New("driver statements cannot run with a context")
		}
	}
	c.args = make([]driver.NamedValue, 0, 2*maxOneStatement)
	return c, nil
}

func (c *getConn) close() error {
	var errs []error
	for _, st := range append([]driver.Stmt{c.get, c.begin, c.commit}, c.many[:]...) {
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
	switch {
	case len(keys) >= 2 && len(keys) <= maxOneStatement:
		return c.queryMany(ctx, keys)
	case len(keys) > maxOneStatement: // one statement a key, in one read transaction
		if _, err := c.begin.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
			return nil, err
		}
		defer func() {
			// Ends the read transaction, also after a failed read.
			if _, cerr := c.commit.(driver.StmtExecContext).ExecContext(context.WithoutCancel(ctx), nil); cerr != nil && err == nil {
				err = cerr
			}
		}()
	}
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

// queryMany reads 2 to maxOneStatement documents with one statement.
func (c *getConn) queryMany(ctx context.Context, keys []eventstore.DocKey) (_ []eventstore.Doc, err error) {
	args := c.args[:0]
	for i, k := range keys {
		args = append(args, driver.NamedValue{Ordinal: 2*i + 1, Value: k.Kind}, driver.NamedValue{Ordinal: 2*i + 2, Value: k.ID})
	}
	rows, err := c.many[len(keys)-2].(driver.StmtQueryContext).QueryContext(ctx, args)
	clear(args)
	if err != nil {
		return nil, err
	}
	defer func() {
		c.dest = [3]driver.Value{}
		if cerr := rows.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	out := make([]eventstore.Doc, len(keys))
	for {
		if err := rows.Next(c.dest[:]); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, err
		}
		i, ok := c.dest[0].(int64)
		if !ok || i < 0 || int(i) >= len(keys) {
			return nil, fmt.Errorf("key index column holds %v", c.dest[0])
		}
		owner, data, err := docColumns(c.dest[1], c.dest[2])
		if err != nil {
			return nil, err
		}
		k := keys[i]
		out[i] = eventstore.Doc{Kind: k.Kind, ID: k.ID, Owner: owner, Data: eventstore.NilIfEmpty(data)}
	}
}

// docColumns converts a document row's owner and data columns.
func docColumns(ownerCol, dataCol driver.Value) (owner string, data []byte, err error) {
	owner, ok := ownerCol.(string)
	if !ok {
		return "", nil, fmt.Errorf("owner column holds %T", ownerCol)
	}
	switch v := dataCol.(type) {
	case nil:
	case []byte: // a copy the driver made for this call
		data = v
	default:
		return "", nil, fmt.Errorf("data column holds %T", v)
	}
	return owner, data, nil
}

// query runs the document lookup on c.
func (c *getConn) query(ctx context.Context, kind, id string) (owner string, data []byte, found bool, err error) {
	rows, err := c.get.(driver.StmtQueryContext).QueryContext(ctx,
		[]driver.NamedValue{{Ordinal: 1, Value: kind}, {Ordinal: 2, Value: id}})
	if err != nil {
		return "", nil, false, err
	}
	c.dest = [3]driver.Value{}
	err = rows.Next(c.dest[:2])
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
	owner, data, err = docColumns(c.dest[0], c.dest[1])
	c.dest = [3]driver.Value{}
	if err != nil {
		return "", nil, false, err
	}
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
