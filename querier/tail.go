package querier

import (
	"context"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"

	"github.com/plgstack/plg/chunks"
	"github.com/plgstack/plg/querier/logql"
	"github.com/plgstack/plg/querier/logql/syntax"
	tenantid "github.com/plgstack/plg/tenant"
)

// Live tail follows a log query over a websocket, as Loki's
// /loki/api/v1/tail does: first the entries since start (at most limit),
// then every new entry as it becomes queryable, in frames of
// {"streams":[...],"dropped_entries":[...]}.
//
// It is built on the query engine: each poll evaluates the query over the
// interval since the last entry sent. That gives every pipeline stage for
// free and sees the ingesters' memory the moment an entry is acknowledged;
// the cost is one small query per poll per client, which the concurrent
// tail limit bounds.

const (
	tailPollInterval = time.Second
	// tailMaxPerPoll bounds the entries one poll sends. The cursor only
	// moves past what was sent, so the rest follow in the next polls:
	// a flood delays the tail but loses nothing (dropped_entries stays null).
	tailMaxPerPoll = 1000
	tailMaxDelay   = 5 * time.Second
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 64 << 10,
	// Grafana proxies the connection; logcli and the UI connect directly.
	// The API has no cookies to protect, so any origin may tail.
	CheckOrigin: func(*http.Request) bool { return true },
}

func (a *API) tail(c *gin.Context) {
	// Browsers cannot set headers on a websocket, so the tail also takes
	// the tenant as a query parameter when the header is absent.
	if c.GetHeader(tenantid.Header) == "" {
		if v := c.Query(tenantid.Header); v != "" {
			c.Request.Header.Set(tenantid.Header, v)
		}
	}
	tenants, err := a.tenants(c)
	if err != nil {
		a.writeError(c, err)
		return
	}
	r := c.Request
	query := r.Form.Get("query")
	expr, err := syntax.ParseExpr(query)
	if err != nil {
		a.writeError(c, err)
		return
	}
	if !syntax.IsLogQuery(expr) {
		a.writeError(c, badRequest("tail needs a log query, not a metric query: %s", query))
		return
	}
	limit, err := parseLimit(r.Form.Get("limit"), 100)
	if err != nil {
		a.writeError(c, err)
		return
	}
	var delay time.Duration
	if v := r.Form.Get("delay_for"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || time.Duration(n)*time.Second > tailMaxDelay {
			a.writeError(c, badParam("delay_for", v, "must be whole seconds from 0 to 5"))
			return
		}
		delay = time.Duration(n) * time.Second
	}
	now := a.now()
	start, err := parseTime("start", r.Form.Get("start"), now.Add(-time.Hour))
	if err != nil {
		a.writeError(c, err)
		return
	}
	if !a.tails.acquire() {
		a.writeError(c, badRequest("too many concurrent tails (limit %d); close one first", a.cfg.MaxConcurrentTailRequests))
		return
	}
	defer a.tails.release()

	conn, err := upgrader.Upgrade(c.Writer, r, nil)
	if err != nil {
		return // the upgrader already answered
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	// A client closing the socket ends the tail.
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				cancel()
				return
			}
		}
	}()

	t := &tailer{api: a, src: source{q: a.q, tenants: tenants}, query: query, seen: map[uint64]struct{}{}}
	// The first batch: the newest `limit` entries since start, sent oldest
	// first.
	first, err := a.engine.Query(ctx, t.src, logql.Params{
		Query: query, Start: start, End: now.Add(-delay), Limit: limit, Direction: chunks.Backward,
	})
	if err != nil {
		writeTailError(conn, err)
		return
	}
	t.cursor = start.UnixNano()
	if err := t.send(conn, first.Streams); err != nil {
		return
	}
	tick := time.NewTicker(tailPollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		end := a.now().Add(-delay)
		if !end.After(time.Unix(0, t.cursor)) {
			continue
		}
		res, err := a.engine.Query(ctx, t.src, logql.Params{
			Query: query, Start: time.Unix(0, t.cursor), End: end, Limit: tailMaxPerPoll, Direction: chunks.Forward,
		})
		if err != nil {
			if ctx.Err() == nil {
				writeTailError(conn, err)
			}
			return
		}
		if err := t.send(conn, res.Streams); err != nil {
			return
		}
	}
}

// tailer remembers where the tail stands: the newest timestamp sent, and
// which entries at exactly that timestamp were sent, since the next poll
// starts there again.
type tailer struct {
	api    *API
	src    source
	query  string
	cursor int64
	seen   map[uint64]struct{}
}

func entryKey(lbls string, e *logql.Entry) uint64 {
	h := fnv.New64a()
	h.Write([]byte(lbls))
	h.Write([]byte{0})
	h.Write([]byte(e.Line))
	return h.Sum64()
}

func (t *tailer) send(conn *websocket.Conn, streams []logql.Stream) error {
	out := streams[:0]
	maxTS := t.cursor
	for _, s := range streams {
		lbls := s.Labels.String()
		kept := s.Entries[:0]
		for i := range s.Entries {
			e := &s.Entries[i]
			if e.Timestamp < t.cursor {
				continue
			}
			if e.Timestamp == t.cursor {
				if _, dup := t.seen[entryKey(lbls, e)]; dup {
					continue
				}
			}
			kept = append(kept, *e)
			maxTS = max(maxTS, e.Timestamp)
		}
		// Entries are sent oldest first within a stream.
		if len(kept) > 1 && kept[0].Timestamp > kept[len(kept)-1].Timestamp {
			slices.Reverse(kept)
		}
		if len(kept) > 0 {
			out = append(out, logql.Stream{Labels: s.Labels, Entries: kept})
		}
	}
	if maxTS != t.cursor {
		clear(t.seen)
	}
	for _, s := range out {
		lbls := s.Labels.String()
		for i := range s.Entries {
			if s.Entries[i].Timestamp == maxTS {
				t.seen[entryKey(lbls, &s.Entries[i])] = struct{}{}
			}
		}
	}
	t.cursor = maxTS
	if len(out) == 0 {
		return nil
	}
	return conn.WriteMessage(websocket.TextMessage, appendTailFrame(nil, out))
}

func appendTailFrame(b []byte, streams []logql.Stream) []byte {
	b = append(b, `{"streams":`...)
	b = appendStreams(b, streams, false)
	return append(b, `,"dropped_entries":null}`...)
}

func writeTailError(conn *websocket.Conn, err error) {
	msg := websocket.FormatCloseMessage(websocket.CloseInternalServerErr, truncate(fmt.Sprint(err), 120))
	_ = conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// tailSlots bounds concurrent tails.
type tailSlots chan struct{}

func (s tailSlots) acquire() bool {
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s tailSlots) release() { <-s }
