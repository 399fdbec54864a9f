package sqlite

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

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
// SQLite's own lookup (bench/HISTORY.md). The other reads stay on
// database/sql.
//
// Reads that arrive while a connection is reading wait in a queue, and the
// holder, once its own read is done, serves all of them in one read
// transaction (readGroup): in WAL mode SQLite drops a connection's page
// cache whenever a read transaction starts after a commit, so every read
// transaction loads its B-tree pages again, and reads that share one share
// those loads. A read takes a second connection (a third, ...) only when
// spillQueue reads already wait, so under a steady load one connection
// reads, in groups; more read side by side when reads come faster than
// one connection serves them, or when its read stalls. Each read still
// sees the database as of a moment after it was asked for (the transaction
// starts after it was queued), so read-your-writes holds; and each sees
// one snapshot, as GetMany promises.
type getPool struct {
	conns   chan *getConn
	n       int
	closing <-chan struct{}

	// mu guards queue and busy, and the decision of a read to wait in the
	// queue (when a connection is reading) against the decision of a
	// connection's holder to give it back (when the queue is empty): a read
	// never waits without a holder that will serve it.
	mu    sync.Mutex
	queue []*pendingRead
	busy  int // connections out of the pool, each with a holder

	transactions, reads atomic.Int64 // for stats
}

// pendingRead is one read, waiting in the queue or reading.
type pendingRead struct {
	keys []eventstore.DocKey
	out  []eventstore.Doc
	err  error
	done chan struct{} // closed when out and err are set, or conn
	// conn and group are set for the read that leads a group: it reads
	// the group with conn.
	conn  *getConn
	group []*pendingRead
}

// maxGroupRead bounds the reads one read transaction serves.
const maxGroupRead = 32

// spillQueue is how many reads wait for the connections that are reading
// before the next read takes one more connection. With four connections
// each reading as soon as it was free, reads shared a read transaction
// only when all four were busy, rarely on two cores; waiting for the one
// that reads took 5-7 % off a removal's server CPU, and cost a read in a
// workload without writes about as much (nothing to share: its pages stay
// cached); bench/HISTORY.md, sixth session.
const spillQueue = 8

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
// statement's bind, step and reset instead of n (bench/HISTORY.md).
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

// get reads one document; found is false when there is none.
func (p *getPool) get(ctx context.Context, kind, id string) (owner string, data []byte, found bool, err error) {
	docs, err := p.getMany(ctx, []eventstore.DocKey{{Kind: kind, ID: id}})
	if err != nil {
		return "", nil, false, err
	}
	d := docs[0]
	return d.Owner, d.Data, d.Kind != "", nil
}

// getMany reads the documents of keys in one read transaction: on a free
// connection at once, together with the reads queued so far, when no
// connection is reading or spillQueue reads wait; or else in the queue.
// The holder of a connection, once its group is read, hands the
// connection to the first read of the queue, which reads its own group with
// it and hands it on in turn; the connection goes back to the pool only
// when the queue is empty. So no caller waits for more than its own group,
// and the reads run on their callers' goroutines (a new goroutine would
// grow its stack for SQLite every time).
func (p *getPool) getMany(ctx context.Context, keys []eventstore.DocKey) ([]eventstore.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case <-p.closing:
		return nil, eventstore.ErrStoreClosed
	default:
	}
	r := &pendingRead{keys: keys}
	p.mu.Lock()
	var c *getConn
	if p.busy == 0 || len(p.queue) >= spillQueue {
		select {
		case c = <-p.conns:
			p.busy++
		default:
		}
	}
	if c == nil {
		r.done = make(chan struct{})
		p.queue = append(p.queue, r)
		p.mu.Unlock()
		var gaveUp error
		select {
		case <-r.done:
		case <-ctx.Done():
			gaveUp = ctx.Err()
		case <-p.closing:
			gaveUp = eventstore.ErrStoreClosed
		}
		if gaveUp != nil && p.leaveQueue(r) {
			return nil, gaveUp
		}
		// Having given up, the read was taken into a group meanwhile: its
		// outcome, or the connection to read the group with, is on its way.
		<-r.done
		if r.conn != nil { // handed the connection
			p.lead(context.WithoutCancel(ctx), r.conn, r)
		}
		if gaveUp != nil {
			return nil, gaveUp
		}
		return r.out, r.err
	}
	r.group = p.takeQueue([]*pendingRead{r})
	p.mu.Unlock()
	// A statement does not take the caller's cancellation: a lookup by key
	// takes microseconds, and the driver would watch a cancellable context
	// with a goroutine of its own for every statement (about 4 % of a
	// removal's CPU for a request's reads).
	p.lead(context.WithoutCancel(ctx), c, r)
	return r.out, r.err
}

// leaveQueue takes r out of the queue; false when it is no longer there
// (taken into a group).
func (p *getPool) leaveQueue(r *pendingRead) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.Index(p.queue, r)
	if i < 0 {
		return false
	}
	p.queue = slices.Delete(p.queue, i, i+1)
	return true
}

// lead reads the group that r leads with c, in one read transaction, tells
// the others their outcome, and hands c on (handOn).
func (p *getPool) lead(ctx context.Context, c *getConn, r *pendingRead) {
	group := r.group
	c.readGroup(ctx, group)
	p.transactions.Add(1)
	p.reads.Add(int64(len(group)))
	for _, q := range group {
		if q != r {
			close(q.done)
		}
	}
	p.handOn(c)
}

// handOn gives c to the first read of the queue, with the group it is to
// read, or back to the pool when the queue is empty.
func (p *getPool) handOn(c *getConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.queue) == 0 {
		p.conns <- c // never blocks: the channel has room for every connection
		p.busy--
		return
	}
	group := p.takeQueue(nil)
	next := group[0]
	next.conn, next.group = c, group
	close(next.done)
}

// stats returns how many read transactions served how many reads.
func (p *getPool) stats() (transactions, reads int64) {
	return p.transactions.Load(), p.reads.Load()
}

// takeQueue moves up to maxGroupRead reads from the queue to group and
// returns it; p.mu must be held.
func (p *getPool) takeQueue(group []*pendingRead) []*pendingRead {
	n := min(len(p.queue), maxGroupRead-len(group))
	group = append(group, p.queue[:n]...)
	p.queue = slices.Delete(p.queue, 0, n)
	return group
}

// readGroup reads every read of group in one read transaction on c, and
// sets each one's outcome.
func (c *getConn) readGroup(ctx context.Context, group []*pendingRead) {
	if len(group) == 1 {
		r := group[0]
		r.out, r.err = c.read(ctx, r.keys, false)
		return
	}
	if _, err := c.begin.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
		for _, r := range group {
			r.err = err
		}
		return
	}
	for _, r := range group {
		r.out, r.err = c.read(ctx, r.keys, true)
	}
	if _, err := c.commit.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
		for _, r := range group {
			r.out, r.err = nil, err
		}
	}
}

// read reads the documents of keys in one snapshot: with one statement
// for up to maxOneStatement keys, else a statement a key inside a read
// transaction, which it opens unless inTx says that one is open.
func (c *getConn) read(ctx context.Context, keys []eventstore.DocKey, inTx bool) (_ []eventstore.Doc, err error) {
	switch {
	case len(keys) >= 2 && len(keys) <= maxOneStatement:
		return c.queryMany(ctx, keys)
	case len(keys) > maxOneStatement && !inTx:
		if _, err := c.begin.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
			return nil, err
		}
		defer func() {
			// Ends the read transaction, also after a failed read.
			if _, cerr := c.commit.(driver.StmtExecContext).ExecContext(ctx, nil); cerr != nil && err == nil {
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
