package ingester

import (
	"bufio"
	"container/heap"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/klauspost/compress/s2"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
	tenantid "github.com/plgstack/plg/tenant"
)

// The internal query API lets queriers in other processes read the
// ingester's memory. Requests are JSON; the select response is a stream of
// frames compressed with S2, written as the ingester iterates, so neither
// side holds the whole result. REMOTE.md documents the frames.
const (
	// SelectPath returns matching entries as frames.
	SelectPath = "/ingester/v1/select"
	// SeriesPath returns matching label sets as JSON.
	SeriesPath = "/ingester/v1/series"
	// StatsPath returns IndexStats as JSON.
	StatsPath = "/ingester/v1/stats"
	// VolumePath returns []StreamVolume as JSON.
	VolumePath = "/ingester/v1/volume"
	// FrameContentType marks a select response.
	FrameContentType = "application/x-plg-frames"
)

// Frame kinds of a select response.
const (
	FrameStream     byte = 1 // id:uvarint labels:str
	FrameHeadersEnd byte = 2 // no body: every stream was announced
	FrameEntry      byte = 3 // id:uvarint ts:varint line:str nmeta:uvarint (name:str value:str)*
	FrameEnd        byte = 4 // error:str (empty on success); always last
)

// RemoteMatcher is a label matcher as JSON.
type RemoteMatcher struct {
	Type  string `json:"type"` // =, !=, =~, !~
	Name  string `json:"name"`
	Value string `json:"value"`
}

// RemoteRequest asks an ingester for a tenant's data.
type RemoteRequest struct {
	From      int64           `json:"from"`
	Through   int64           `json:"through"`
	Backward  bool            `json:"backward,omitempty"`
	Matchers  []RemoteMatcher `json:"matchers"`
	WithStats bool            `json:"with_stats,omitempty"`
	// LineSubstrings (select only) are logql.SelectHints.LineSubstrings:
	// the ingester may leave out entries whose lines lack them.
	LineSubstrings [][]string `json:"line_substrings,omitempty"`
}

// ToRemoteMatchers converts matchers for a RemoteRequest.
func ToRemoteMatchers(ms []*labels.Matcher) []RemoteMatcher {
	out := make([]RemoteMatcher, len(ms))
	for i, m := range ms {
		out[i] = RemoteMatcher{Type: m.Type.String(), Name: m.Name, Value: m.Value}
	}
	return out
}

func fromRemoteMatchers(rms []RemoteMatcher) ([]*labels.Matcher, error) {
	out := make([]*labels.Matcher, len(rms))
	for i, rm := range rms {
		var t labels.MatchType
		switch rm.Type {
		case "=":
			t = labels.MatchEqual
		case "!=":
			t = labels.MatchNotEqual
		case "=~":
			t = labels.MatchRegexp
		case "!~":
			t = labels.MatchNotRegexp
		default:
			return nil, fmt.Errorf("matcher %d: unknown type %q", i, rm.Type)
		}
		m, err := labels.NewMatcher(t, rm.Name, rm.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %d: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// RegisterInternalRoutes adds the internal query API to r.
func (i *Ingester) RegisterInternalRoutes(r gin.IRouter) {
	r.POST(SelectPath, i.handleSelect)
	r.POST(SeriesPath, i.handleSeries)
	r.POST(StatsPath, i.handleStats)
	r.POST(VolumePath, i.handleVolume)
}

// remoteVolume is StreamVolume on the wire.
type remoteVolume struct {
	Labels map[string]string `json:"labels"`
	Chunks []ChunkVolume     `json:"chunks"`
}

func (i *Ingester) handleVolume(c *gin.Context) {
	id, req, ms, ok := i.decodeRemote(c)
	if !ok {
		return
	}
	vols := i.Volume(id, req.From, req.Through, ms)
	out := make([]remoteVolume, len(vols))
	for k, v := range vols {
		out[k] = remoteVolume{Labels: v.Labels.Map(), Chunks: v.Chunks}
	}
	c.JSON(http.StatusOK, out)
}

// DecodeVolume reads a volume response.
func DecodeVolume(r io.Reader) ([]StreamVolume, error) {
	var in []remoteVolume
	if err := json.NewDecoder(r).Decode(&in); err != nil {
		return nil, err
	}
	out := make([]StreamVolume, len(in))
	for k, v := range in {
		out[k] = StreamVolume{Labels: labels.FromMap(v.Labels), Chunks: v.Chunks}
	}
	return out, nil
}

func (i *Ingester) decodeRemote(c *gin.Context) (string, *RemoteRequest, []*labels.Matcher, bool) {
	id := c.GetHeader(tenantid.Header)
	if err := tenantid.Validate(id); err != nil {
		c.String(http.StatusBadRequest, "%v\n", err)
		return "", nil, nil, false
	}
	var req RemoteRequest
	if err := json.NewDecoder(c.Request.Body).Decode(&req); err != nil {
		c.String(http.StatusBadRequest, "decoding request: %v\n", err)
		return "", nil, nil, false
	}
	ms, err := fromRemoteMatchers(req.Matchers)
	if err != nil {
		c.String(http.StatusBadRequest, "%v\n", err)
		return "", nil, nil, false
	}
	return id, &req, ms, true
}

func (i *Ingester) handleSeries(c *gin.Context) {
	id, req, ms, ok := i.decodeRemote(c)
	if !ok {
		return
	}
	series := i.Series(id, req.From, req.Through, ms)
	out := make([]map[string]string, len(series))
	for k, lbs := range series {
		out[k] = lbs.Map()
	}
	c.JSON(http.StatusOK, out)
}

func (i *Ingester) handleStats(c *gin.Context) {
	id, req, ms, ok := i.decodeRemote(c)
	if !ok {
		return
	}
	c.JSON(http.StatusOK, i.Stats(id, req.From, req.Through, ms))
}

func (i *Ingester) handleSelect(c *gin.Context) {
	id, req, ms, ok := i.decodeRemote(c)
	if !ok {
		return
	}
	dir := chunks.Forward
	if req.Backward {
		dir = chunks.Backward
	}
	ctx := c.Request.Context()
	var stats chunks.Stats
	streams := i.SelectMatching(ctx, id, req.From, req.Through, dir, ms, chunks.NewNeedles(req.LineSubstrings), &stats)
	c.Header("Content-Type", FrameContentType)
	c.Status(http.StatusOK)
	zw := s2.NewWriter(c.Writer, s2.WriterConcurrency(1))
	w := bufio.NewWriterSize(zw, 64<<10)
	var buf []byte
	for k, s := range streams {
		buf = append(buf[:0], FrameStream)
		buf = binary.AppendUvarint(buf, uint64(k))
		buf = appendString(buf, s.Labels.String())
		w.Write(buf)
	}
	w.Write([]byte{FrameHeadersEnd})
	err := writeMerged(w, streams, dir, &buf)
	for _, s := range streams {
		s.Iter.Close()
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	buf = append(buf[:0], FrameEnd)
	buf = appendString(buf, msg)
	w.Write(buf)
	if err := w.Flush(); err == nil {
		zw.Close()
	}
}

// writeMerged writes every stream's entries as one sequence ordered by time
// in direction dir, so a reader consuming in time order buffers almost
// nothing.
func writeMerged(w *bufio.Writer, streams []StreamIterator, dir chunks.Direction, buf *[]byte) error {
	h := &frameHeap{backward: dir == chunks.Backward}
	for k, s := range streams {
		if s.Iter.Next() {
			h.items = append(h.items, frameItem{id: k, ts: s.Iter.At().Timestamp})
		} else if err := s.Iter.Err(); err != nil {
			return err
		}
	}
	heap.Init(h)
	for h.Len() > 0 {
		top := &h.items[0]
		it := streams[top.id].Iter
		e := it.At()
		b := append((*buf)[:0], FrameEntry)
		b = binary.AppendUvarint(b, uint64(top.id))
		b = binary.AppendVarint(b, e.Timestamp)
		b = binary.AppendUvarint(b, uint64(len(e.Line)))
		b = append(b, e.Line...)
		b = binary.AppendUvarint(b, uint64(e.Metadata.Len()))
		e.Metadata.Range(func(l labels.Label) {
			b = appendString(b, l.Name)
			b = appendString(b, l.Value)
		})
		*buf = b
		if _, err := w.Write(b); err != nil {
			return err
		}
		if it.Next() {
			top.ts = it.At().Timestamp
			heap.Fix(h, 0)
		} else {
			if err := it.Err(); err != nil {
				return err
			}
			heap.Pop(h)
		}
	}
	return nil
}

type frameItem struct {
	id int
	ts int64
}

type frameHeap struct {
	items    []frameItem
	backward bool
}

func (h *frameHeap) Len() int { return len(h.items) }
func (h *frameHeap) Less(a, b int) bool {
	x, y := h.items[a], h.items[b]
	if x.ts != y.ts {
		return (x.ts < y.ts) != h.backward
	}
	return x.id < y.id
}
func (h *frameHeap) Swap(a, b int) { h.items[a], h.items[b] = h.items[b], h.items[a] }
func (h *frameHeap) Push(x any)    { h.items = append(h.items, x.(frameItem)) }
func (h *frameHeap) Pop() any {
	x := h.items[len(h.items)-1]
	h.items = h.items[:len(h.items)-1]
	return x
}
