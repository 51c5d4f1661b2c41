package querier

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/gorilla/websocket"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/push"
	"github.com/plgstack/plg/querier/logql"
)

type tailFrame struct {
	Streams []struct {
		Stream map[string]string
		Values [][]string
	}
	DroppedEntries []struct {
		Labels    string
		Timestamp string
	} `json:"dropped_entries"`
}

func TestTailSendsHistoryThenNewEntriesOnce(t *testing.T) {
	ing := startIngester(t)
	now := time.Now()
	pushLines := func(ts time.Time, lines ...string) {
		s := push.Stream{Labels: `{app="tail"}`}
		for i, l := range lines {
			s.Entries = append(s.Entries, push.Entry{Timestamp: ts.Add(time.Duration(i)).UnixNano(), Line: []byte(l)})
		}
		if err := ing.Push(context.Background(), "fake", &push.Request{Streams: []push.Stream{s}}); err != nil {
			t.Fatal(err)
		}
	}
	pushLines(now.Add(-time.Minute), "old 1", "old 2 <img onerror=x>", "old 3 skipped by filter")

	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	NewAPI(Config{}, New(Local{ing}, nil), false, slog.New(slog.DiscardHandler)).RegisterRoutes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/loki/api/v1/tail?query=" +
		url.QueryEscape(`{app="tail"} != "skipped"`) + "&start=" + url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339Nano))
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	var got []string
	read := func(want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(got) < want {
			conn.SetReadDeadline(deadline)
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("after %v: %v", got, err)
			}
			var f tailFrame
			if err := json.Unmarshal(msg, &f); err != nil {
				t.Fatalf("frame %s: %v", msg, err)
			}
			for _, s := range f.Streams {
				if s.Stream["app"] != "tail" {
					t.Fatalf("frame labels %v", s.Stream)
				}
				for _, v := range s.Values {
					got = append(got, v[1])
				}
			}
		}
	}
	read(2)
	if strings.Join(got, "|") != "old 1|old 2 <img onerror=x>" {
		t.Fatalf("history = %q", got)
	}
	pushLines(time.Now(), "new 1", "new 2")
	read(4)
	if strings.Join(got[2:], "|") != "new 1|new 2" {
		t.Fatalf("live = %q", got)
	}
	// Nothing is sent twice: after another poll, no new frame arrives.
	conn.SetReadDeadline(time.Now().Add(2500 * time.Millisecond))
	if _, msg, err := conn.ReadMessage(); err == nil {
		t.Fatalf("unexpected frame after all entries were sent: %s", msg)
	}
}

func TestTailRejectsMetricQueriesAndBadDelay(t *testing.T) {
	ing := startIngester(t)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	NewAPI(Config{}, New(Local{ing}, nil), false, slog.New(slog.DiscardHandler)).RegisterRoutes(r)
	for _, q := range []string{
		"query=" + url.QueryEscape(`rate({app="x"}[1m])`),
		"query=" + url.QueryEscape(`{app="x"}`) + "&delay_for=9",
	} {
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest("GET", "/loki/api/v1/tail?"+q, nil))
		if rec.Code != 400 {
			t.Errorf("%s: status %d %s", q, rec.Code, rec.Body)
		}
	}
}

func TestTailFrameShape(t *testing.T) {
	frame := appendTailFrame(nil, []logql.Stream{{Labels: labels.FromStrings("a", "b"), Entries: []logql.Entry{{Timestamp: 5, Line: "x\n"}}}})
	if string(frame) != `{"streams":[{"stream":{"a":"b"},"values":[["5","x\n"]]}],"dropped_entries":null}` {
		t.Fatalf("frame %s", frame)
	}
}

func TestTailTakesTheTenantFromAQueryParameter(t *testing.T) {
	ing := startIngester(t)
	if err := ing.Push(context.Background(), "team-a", &push.Request{Streams: []push.Stream{
		{Labels: `{app="mt"}`, Entries: []push.Entry{{Timestamp: time.Now().Add(-time.Minute).UnixNano(), Line: []byte("only team-a")}}},
	}}); err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	NewAPI(Config{}, New(Local{ing}, nil), true, slog.New(slog.DiscardHandler)).RegisterRoutes(r)
	srv := httptest.NewServer(r)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http") + "/loki/api/v1/tail?query=" + url.QueryEscape(`{app="mt"}`)
	if _, resp, err := websocket.DefaultDialer.Dial(base, nil); err == nil || resp == nil || resp.StatusCode != 401 {
		t.Fatalf("tail without a tenant on a multi-tenant server: %v %v", err, resp)
	}
	conn, _, err := websocket.DefaultDialer.Dial(base+"&X-Scope-OrgID=team-a", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, msg, err := conn.ReadMessage()
	if err != nil || !strings.Contains(string(msg), "only team-a") {
		t.Fatalf("frame %s, %v", msg, err)
	}
}
