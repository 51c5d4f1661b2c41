package querier

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
}

// NewRemote returns a client of the ingesters at addrs (host:port or URLs).
func NewRemote(addrs []string, client *http.Client) *Remote {
	if client == nil {
		client = http.DefaultClient
	}
	r := &Remote{client: client}
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
	for _, addr := range r.addrs {
		resp, err := r.post(ctx, addr, ingester.SelectPath, tenant, ingester.RemoteRequest{
			From: from, Through: through, Backward: dir == chunks.Backward, Matchers: ingester.ToRemoteMatchers(ms),
			LineSubstrings: substrings,
		})
		if err != nil {
			closeAll(out)
			return nil, err
		}
		d := &demux{addr: addr, body: resp.Body, r: bufio.NewReaderSize(s2.NewReader(resp.Body), 64<<10)}
		streams, err := d.readHeaders()
		if err != nil {
			resp.Body.Close()
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
			d.open = len(streams)
			return streams, nil
		case ingester.FrameEnd:
			msg, _ := d.str()
			if len(msg) > 0 {
				return nil, d.fail(errors.New(string(msg)))
			}
			d.queues = make([][]chunks.Entry, len(streams))
			d.closed = make([]bool, len(streams))
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

// next returns stream id's next entry, reading frames until one arrives.
func (d *demux) next(id int) (chunks.Entry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for {
		if q := d.queues[id]; len(q) > 0 {
			e := q[0]
			q[0] = chunks.Entry{}
			d.queues[id] = q[1:]
			return e, true
		}
		if d.done {
			return chunks.Entry{}, false
		}
		if err := d.readFrame(); err != nil {
			d.fail(err)
			return chunks.Entry{}, false
		}
	}
}

func (d *demux) readFrame() error {
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
		if d.closed[id] {
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
		d.queues[id] = append(d.queues[id], chunks.Entry{Timestamp: ts, Line: line, Metadata: md})
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
}

func (it *remoteIterator) Next() bool {
	if it.closed {
		return false
	}
	e, ok := it.d.next(it.id)
	it.cur = e
	return ok
}

func (it *remoteIterator) At() chunks.Entry { return it.cur }

func (it *remoteIterator) Err() error {
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
