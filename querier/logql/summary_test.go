package logql

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/chunks"
)

// cellSource answers a Select with SelectHints.Cell by summarising every
// other run of consecutive entries that Cell maps to one value, as a store
// answering from block metadata would; it counts the summaries it served.
// With SelectHints.CellPlainOnly, entries with metadata are never folded.
type cellSource struct {
	*memSource
	served *atomic.Int64
}

func (s cellSource) Select(ctx context.Context, ms []*labels.Matcher, from, through int64, dir chunks.Direction, hints SelectHints, stats *chunks.Stats) ([]SourceStream, error) {
	streams, err := s.memSource.Select(ctx, ms, from, through, dir, hints, stats)
	if err != nil || hints.Cell == nil {
		return streams, err
	}
	for i, st := range streams {
		var items []summaryItem
		for st.Iter.Next() {
			e := st.Iter.At()
			items = append(items, summaryItem{e: chunks.Entry{Timestamp: e.Timestamp, Line: []byte(string(e.Line)), Metadata: e.Metadata}, n: 1, bytes: int64(len(e.Line))})
		}
		st.Iter.Close()
		var out []summaryItem
		run := 0
		plain := func(it summaryItem) bool { return !hints.CellPlainOnly || it.e.Metadata.IsEmpty() }
		for j := 0; j < len(items); {
			k := j + 1
			for k < len(items) && plain(items[j]) && plain(items[k]) && hints.Cell(items[k].e.Timestamp) == hints.Cell(items[j].e.Timestamp) {
				k++
			}
			if run++; run%2 == 1 && k-j > 1 {
				sum := summaryItem{e: chunks.Entry{Timestamp: items[k-1].e.Timestamp}, summary: true}
				for _, it := range items[j:k] {
					sum.n += it.n
					sum.bytes += it.bytes
				}
				out = append(out, sum)
				s.served.Add(1)
			} else {
				out = append(out, items[j:k]...)
			}
			j = k
		}
		streams[i].Iter = &summaryIter{items: out, i: -1}
	}
	return streams, nil
}

type summaryItem struct {
	e        chunks.Entry
	summary  bool
	n, bytes int64
}

type summaryIter struct {
	items []summaryItem
	i     int
}

func (it *summaryIter) Next() bool       { it.i++; return it.i < len(it.items) }
func (it *summaryIter) At() chunks.Entry { return it.items[it.i].e }
func (it *summaryIter) Err() error       { return nil }
func (it *summaryIter) Close() error     { return nil }
func (it *summaryIter) Summary() (int64, int64, bool) {
	c := it.items[it.i]
	return c.n, c.bytes, c.summary
}

// summaryData is three streams with entries every 0.7 to 1.9 s over two
// minutes, lines of varied length, one of them with structured metadata.
func summaryData(t testing.TB) map[string][]testEntry {
	data := map[string][]testEntry{}
	for i, sel := range []string{`{app="a", ns="x"}`, `{app="b", ns="x"}`, `{app="c", ns="y"}`} {
		var es []testEntry
		for k, off := 0, time.Duration(i)*300*time.Millisecond; off < 2*time.Minute; k++ {
			te := e(off, strings.Repeat("x", 5+(k*7+i)%40))
			if i == 2 && k%5 == 0 {
				te.md = labels.FromStrings("ns", "from-metadata")
			}
			es = append(es, te)
			off += time.Duration(700+(k*373+i*101)%1200) * time.Millisecond
		}
		data[sel] = es
	}
	return data
}

func TestSummariesGiveTheSameResultsAsEntries(t *testing.T) {
	tests := []struct {
		query      string
		summarised bool
	}{
		{`sum(count_over_time({ns=~".+"}[10s]))`, true},
		{`sum(rate({ns=~".+"}[30s]))`, true},
		{`sum(bytes_over_time({ns=~".+"}[7s]))`, true},
		{`sum(bytes_rate({ns="x"}[1m] offset 5s))`, true},
		{`sum by () (count_over_time({ns=~".+"}[3s]))`, true},
		{`sum by (ns) (count_over_time({ns=~".+"}[10s]))`, true}, // ns may come from metadata: those entries come whole
		{`sum without (app) (bytes_over_time({ns=~".+"}[10s]))`, true},
		{`count_over_time({ns=~".+"}[10s])`, false},
		{`sum(count_over_time({ns=~".+"} |= "xxxxxxxxxx" [10s]))`, false},
		{`sum(count_over_time({ns=~".+"} | logfmt [10s]))`, false},
		{`sum(avg_over_time({ns=~".+"} | logfmt | unwrap x [10s]))`, false},
	}
	data := summaryData(t)
	eng := newTestEngine()
	for _, tt := range tests {
		served := new(atomic.Int64)
		for _, p := range []struct {
			name string
			p    Params
		}{
			{"range step 5s", rangeParams(tt.query, 20*time.Second, 110*time.Second, 5*time.Second)},
			{"range step 13s", rangeParams(tt.query, 3*time.Second, 2*time.Minute, 13*time.Second)},
			{"range step 1s", rangeParams(tt.query, 0, 30*time.Second, time.Second)},
			{"instant", instantParams(tt.query, 100*time.Second)},
		} {
			t.Run(fmt.Sprintf("%s %s", tt.query, p.name), func(t *testing.T) {
				want, err := eng.Query(context.Background(), newSource(t, data), p.p)
				if err != nil {
					t.Fatal(err)
				}
				got, err := eng.Query(context.Background(), cellSource{newSource(t, data), served}, p.p)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Matrix, want.Matrix) || !reflect.DeepEqual(got.Vector, want.Vector) {
					t.Errorf("with summaries:\n got %s%v\nwant %s%v", matrixString(got.Matrix), got.Vector, matrixString(want.Matrix), want.Vector)
				}
				if got.Stats.PostFilterLines != want.Stats.PostFilterLines {
					t.Errorf("post-filter lines %d with summaries, %d without", got.Stats.PostFilterLines, want.Stats.PostFilterLines)
				}
			})
		}
		if (served.Load() > 0) != tt.summarised {
			t.Errorf("%s: %d summaries served, want summaries %v", tt.query, served.Load(), tt.summarised)
		}
	}
}
