package querier

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/ingester"
	"github.com/plgstack/plg/push"
	tenantid "github.com/plgstack/plg/tenant"
)

// Remote reads from ingesters in other processes through their internal
// query API. Every ingester is asked; replicas' copies of a stream are
// merged (and their duplicate entries dropped) by the Querier.
type Remote struct {
	addrs  []string // base URLs, e.g. http://ingester-0:3100
	client *http.Client
	// queueBytes bounds the entries a select response holds for streams
	// not being read (see demux.shed).
	queueBytes int64
}

// DefaultRemoteQueueBytes is how many bytes of entries one ingester's
// select response may hold for streams not being read before the largest
// queues are dropped, to be fetched again when read.
const DefaultRemoteQueueBytes = 16 << 20

// NewRemote returns a client of the ingesters at addrs (host:port or URLs).
func NewRemote(addrs []string, client *http.Client) *Remote {
	if client == nil {
		client = http.DefaultClient
	}
	r := &Remote{client: client, queueBytes: DefaultRemoteQueueBytes}
	for _, a := range addrs {
		if !strings.Contains(a, "://") {
			a = "http://" + a
		}
		r.addrs = append(r.addrs, strings.TrimRight(a, "/"))
	}
	return r
}

func (r *Remote) post(ctx context.Context, addr, path, tenant string, req ingester.RemoteRequest) (*http.Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set(tenantid.Header, tenant)
	resp, err := r.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("ingester %s: %w", addr, err)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		return nil, fmt.Errorf("ingester %s: %s: %s", addr, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// Series implements Ingesters.
func (r *Remote) Series(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]labels.Labels, error) {
	var out []labels.Labels
	for _, addr := range r.addrs {
		resp, err := r.post(ctx, addr, ingester.SeriesPath, tenant, ingester.RemoteRequest{From: from, Through: through, Matchers: ingester.ToRemoteMatchers(ms)})
		if err != nil {
			return nil, err
		}
		var series []map[string]string
		err = json.NewDecoder(resp.Body).Decode(&series)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("ingester %s: decoding series: %w", addr, err)
		}
		for _, m := range series {
			out = append(out, labels.FromMap(m))
		}
	}
	return out, nil
}

// Stats implements Ingesters.
func (r *Remote) Stats(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) (ingester.IndexStats, error) {
	var total ingester.IndexStats
	for _, addr := range r.addrs {
		resp, err := r.post(ctx, addr, ingester.StatsPath, tenant, ingester.RemoteRequest{From: from, Through: through, Matchers: ingester.ToRemoteMatchers(ms)})
		if err != nil {
			return total, err
		}
		var st ingester.IndexStats
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return total, fmt.Errorf("ingester %s: decoding stats: %w", addr, err)
		}
		total.Streams += st.Streams
		total.Chunks += st.Chunks
		total.Entries += st.Entries
		total.Bytes += st.Bytes
	}
	return total, nil
}

// Volume implements Ingesters.
func (r *Remote) Volume(ctx context.Context, tenant string, from, through int64, ms []*labels.Matcher) ([]ingester.StreamVolume, error) {
	var out []ingester.StreamVolume
	for _, addr := range r.addrs {
		resp, err := r.post(ctx, addr, ingester.VolumePath, tenant, ingester.RemoteRequest{From: from, Through: through, Matchers: ingester.ToRemoteMatchers(ms)})
		if err != nil {
			return nil, err
		}
		vols, err := ingester.DecodeVolume(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("ingester %s: decoding volume: %w", addr, err)
		}
		out = append(out, vols...)
	}
	return out, nil
}

// Select implements Ingesters. Each ingester's response is read lazily as
// the returned iterators advance.
func (r *Remote) Select(ctx context.Context, tenant string, from, through int64, dir chunks.Direction,
	ms []*labels.Matcher, substrings [][]string, stats *chunks.Stats) ([]ingester.StreamIterator, error) {
	var out []ingester.StreamIterator
	req := ingester.RemoteRequest{
		From: from, Through: through, Backward: dir == chunks.Backward, Matchers: ingester.ToRemoteMatchers(ms),
		LineSubstrings: substrings,
	}
	for _, addr := range r.addrs {
		d, streams, err := r.selectFrom(ctx, addr, tenant, req)
		if err != nil {
			closeAll(out)
			return nil, err
		}
		for id, lbs := range streams {
			out = append(out, ingester.StreamIterator{Labels: lbs, Fingerprint: lbs.Hash(), Iter: &remoteIterator{d: d, id: id}})
		}
		if len(streams) == 0 {
			d.close(-1) // no stream to read: release the response
		}
	}
	return out, nil
}

// selectFrom sends a select request to one ingester and reads the
// response's stream headers.
func (r *Remote) selectFrom(ctx context.Context, addr, tenant string, req ingester.RemoteRequest) (*demux, []labels.Labels, error) {
	resp, err := r.post(ctx, addr, ingester.SelectPath, tenant, req)
	if err != nil {
		return nil, nil, err
	}
	d := &demux{addr: addr, body: resp.Body, r: bufio.NewReaderSize(s2.NewReader(resp.Body), 64<<10),
		remote: r, ctx: ctx, tenant: tenant, req: req, budget: r.queueBytes}
	streams, err := d.readHeaders()
	if err != nil {
		resp.Body.Close()
		return nil, nil, err
	}
	d.streams = streams
	return d, streams, nil
}

// refetch asks the ingester again for stream lbs alone, from resume on
// (see remoteIterator), and returns the response and the stream's id in
// it, or a nil demux when the ingester no longer has the stream.
func (d *demux) refetch(lbs labels.Labels, resume int64, resumed bool) (*demux, int, error) {
	if d.remote == nil {
		return nil, 0, fmt.Errorf("ingester %s: stream %s: entries dropped and no request to repeat", d.addr, lbs)
	}
	req := d.req
	ms := make([]*labels.Matcher, 0, lbs.Len())
	lbs.Range(func(l labels.Label) { ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value)) })
	req.Matchers = ingester.ToRemoteMatchers(ms)
	if resumed {
		// The entries at resume itself are asked for again: the
		// iterator skips those it yielded.
		if req.Backward {
			req.Through = resume + 1
		} else {
			req.From = resume
		}
	}
	nd, streams, err := d.remote.selectFrom(d.ctx, d.addr, d.tenant, req)
	if err != nil {
		return nil, 0, err
	}
	id := -1
	for i, s := range streams {
		if labels.Equal(s, lbs) {
			id = i
			continue
		}
		// A stream with more labels matches too; it is not read.
		nd.closed[i] = true
		nd.open--
	}
	if id < 0 {
		nd.close(-1)
		return nil, 0, nil
	}
	return nd, id, nil
}

func closeAll(its []ingester.StreamIterator) {
	for _, s := range its {
		s.Iter.Close()
	}
}

// demux splits one select response into per-stream queues. Entries arrive
// in time order across streams, so a consumer that reads streams in time
// order finds each queue nearly empty.
type demux struct {
	mu     sync.Mutex
	addr   string
	body   io.ReadCloser
	r      *bufio.Reader
	queues [][]chunks.Entry
	// What a refetch repeats (see shed).
	remote  *Remote
	ctx     context.Context
	tenant  string
	req     ingester.RemoteRequest
	streams []labels.Labels
	// queued is the bytes of the entries in queues (about), budget its
	// bound; shed marks the streams whose queues were dropped: their
	// entries are read past, and their iterators ask again.
	queued int64
	budget int64
	shed   []bool
	// closed marks the streams whose iterators are closed: their entries
	// are read past, not queued (a log query closes a batch of streams
	// and reads on for the others; a part drops the others' streams).
	closed []bool
	open   int // iterators not yet closed
	done   bool
	err    error
	sb     labels.ScratchBuilder
}

func (d *demux) readHeaders() ([]labels.Labels, error) {
	var streams []labels.Labels
	for {
		kind, err := d.r.ReadByte()
		if err != nil {
			return nil, d.fail(err)
		}
		switch kind {
		case ingester.FrameStream:
			id, err := binary.ReadUvarint(d.r)
			if err != nil || id != uint64(len(streams)) {
				return nil, d.fail(fmt.Errorf("stream frame %d out of order", id))
			}
			s, err := d.str()
			if err != nil {
				return nil, d.fail(err)
			}
			lbs, err := push.ParseLabels(string(s))
			if err != nil {
				return nil, d.fail(err)
			}
			streams = append(streams, lbs)
		case ingester.FrameHeadersEnd:
			d.queues = make([][]chunks.Entry, len(streams))
			d.closed = make([]bool, len(streams))
			d.shed = make([]bool, len(streams))
			d.open = len(streams)
			return streams, nil
		case ingester.FrameEnd:
			msg, _ := d.str()
			if len(msg) > 0 {
				return nil, d.fail(errors.New(string(msg)))
			}
			d.queues = make([][]chunks.Entry, len(streams))
			d.closed = make([]bool, len(streams))
			d.shed = make([]bool, len(streams))
			d.done = true
			return streams, nil
		default:
			return nil, d.fail(fmt.Errorf("unexpected frame kind %d before the headers ended", kind))
		}
	}
}

func (d *demux) fail(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	d.err = fmt.Errorf("ingester %s: reading select response: %w", d.addr, err)
	d.done = true
	return d.err
}

func (d *demux) str() ([]byte, error) {
	n, err := binary.ReadUvarint(d.r)
	if err != nil {
		return nil, err
	}
	if n > 64<<20 {
		return nil, fmt.Errorf("string of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(d.r, b)
	return b, err
}

// next returns stream id's next entry, reading frames until one arrives;
// shed reports that the stream's queue was dropped and it must be fetched
// again.
func (d *demux) next(id int) (e chunks.Entry, ok, shed bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if q := d.queues[id]; len(q) > 0 {
			e := q[0]
			q[0] = chunks.Entry{}
			d.queues[id] = q[1:]
			d.queued -= entrySize(e)
			return e, true, false
		}
		if d.shed[id] {
			return chunks.Entry{}, false, true
		}
		if d.done {
			return chunks.Entry{}, false, false
		}
		if err := d.readFrame(id); err != nil {
			d.fail(err)
			return chunks.Entry{}, false, false
		}
	}
}

// entrySize is about what a queued entry holds.
func entrySize(e chunks.Entry) int64 {
	n := int64(len(e.Line)) + 48
	e.Metadata.Range(func(l labels.Label) { n += int64(len(l.Name)+len(l.Value)) + 32 })
	return n
}

// shedQueues drops the largest queues of streams other than reader until
// the queued entries take half the budget. Entries arrive in time order
// across streams, so queues grow only when the streams are not read
// together: a log query reading a batch of streams, a count reading one
// stream after the other. Without a bound, reading the first stream would
// hold every other stream's entries the ingester has.
func (d *demux) shedQueues(reader int) {
	ids := make([]int, 0, len(d.queues))
	for id, q := range d.queues {
		if id != reader && len(q) > 0 {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b int) int { return cmp.Compare(len(d.queues[b]), len(d.queues[a])) })
	for _, id := range ids {
		if d.queued <= d.budget/2 {
			return
		}
		for _, e := range d.queues[id] {
			d.queued -= entrySize(e)
		}
		d.queues[id] = nil
		d.shed[id] = true
	}
}

// readFrame reads one frame for the stream reader (-1: none) is waiting on.
func (d *demux) readFrame(reader int) error {
	kind, err := d.r.ReadByte()
	if err != nil {
		return err
	}
	switch kind {
	case ingester.FrameEntry:
		id, err := binary.ReadUvarint(d.r)
		if err != nil {
			return err
		}
		if id >= uint64(len(d.queues)) {
			return fmt.Errorf("entry for unknown stream %d", id)
		}
		ts, err := binary.ReadVarint(d.r)
		if err != nil {
			return err
		}
		if d.closed[id] || d.shed[id] {
			return d.skipEntry()
		}
		line, err := d.str()
		if err != nil {
			return err
		}
		nmeta, err := binary.ReadUvarint(d.r)
		if err != nil {
			return err
		}
		var md labels.Labels
		if nmeta > 0 {
			d.sb.Reset()
			for k := uint64(0); k < nmeta; k++ {
				name, err := d.str()
				if err != nil {
					return err
				}
				value, err := d.str()
				if err != nil {
					return err
				}
				d.sb.Add(string(name), string(value))
			}
			d.sb.Sort()
			md = d.sb.Labels()
		}
		e := chunks.Entry{Timestamp: ts, Line: line, Metadata: md}
		d.queues[id] = append(d.queues[id], e)
		if d.queued += entrySize(e); d.budget > 0 && d.queued > d.budget {
			d.shedQueues(reader)
		}
		return nil
	case ingester.FrameEnd:
		msg, err := d.str()
		if err != nil {
			return err
		}
		if len(msg) > 0 {
			return errors.New(string(msg))
		}
		d.done = true
		d.body.Close()
		return nil
	}
	return fmt.Errorf("unexpected frame kind %d", kind)
}

// skipEntry reads past the line and metadata of an entry frame.
func (d *demux) skipEntry() error {
	if err := d.skipStr(); err != nil {
		return err
	}
	nmeta, err := binary.ReadUvarint(d.r)
	if err != nil {
		return err
	}
	for k := uint64(0); k < 2*nmeta; k++ {
		if err := d.skipStr(); err != nil {
			return err
		}
	}
	return nil
}

func (d *demux) skipStr() error {
	n, err := binary.ReadUvarint(d.r)
	if err != nil {
		return err
	}
	if n > 64<<20 {
		return fmt.Errorf("string of %d bytes", n)
	}
	_, err = d.r.Discard(int(n))
	return err
}

// close closes stream id's iterator: its queued entries are dropped. The
// response is released once every stream's is closed.
func (d *demux) close(id int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if id >= 0 && id < len(d.closed) {
		d.closed[id] = true
		for _, e := range d.queues[id] {
			d.queued -= entrySize(e)
		}
		d.queues[id] = nil
	}
	d.open--
	if d.open <= 0 {
		d.done = true
		d.body.Close()
	}
}

type remoteIterator struct {
	d      *demux
	id     int
	cur    chunks.Entry
	closed bool
	err    error
	// Where the stream has been read to, for a refetch after its queue
	// was shed: the last timestamp yielded and the lines yielded at it.
	read    bool
	lastTs  int64
	atLast  [][]byte
	own     bool // d is a refetch of this stream alone
	skipped bool // a refetch has passed what was read before
}

func (it *remoteIterator) Next() bool {
	for !it.closed && it.err == nil {
		e, ok, shed := it.d.next(it.id)
		if shed {
			if !it.refetch() {
				return false
			}
			continue
		}
		if !ok {
			return false
		}
		if it.own && it.read && !it.skipped {
			// A refetch starts at the last timestamp read: skip the
			// entries yielded before (a stream holds no exact duplicates).
			if e.Timestamp != it.lastTs {
				it.skipped = true
			} else if slices.ContainsFunc(it.atLast, func(l []byte) bool { return bytes.Equal(l, e.Line) }) {
				continue
			}
		}
		if !it.read || e.Timestamp != it.lastTs {
			clear(it.atLast)
			it.read, it.lastTs, it.atLast = true, e.Timestamp, it.atLast[:0]
		}
		// Each entry's line is its own allocation: kept, not copied.
		it.atLast = append(it.atLast, e.Line)
		it.cur = e
		return true
	}
	return false
}

// refetch replaces the shared response, which dropped this stream's
// queue, by a response for this stream alone, from where it was read to.
func (it *remoteIterator) refetch() bool {
	lbs := it.d.streams[it.id]
	nd, id, err := it.d.refetch(lbs, it.lastTs, it.read)
	it.d.close(it.id)
	if err != nil || nd == nil {
		it.closed, it.err = true, err
		return false
	}
	it.d, it.id, it.own, it.skipped = nd, id, true, false
	return true
}

func (it *remoteIterator) At() chunks.Entry { return it.cur }

func (it *remoteIterator) Err() error {
	if it.err != nil {
		return it.err
	}
	it.d.mu.Lock()
	defer it.d.mu.Unlock()
	return it.d.err
}

func (it *remoteIterator) Close() error {
	if !it.closed {
		it.closed = true
		it.d.close(it.id)
	}
	return nil
}
