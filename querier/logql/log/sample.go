package log

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/prometheus/prometheus/model/labels"
)

// LineSampleKind is what a log-range aggregation counts per line.
type LineSampleKind int

// Line sample kinds: 1 per line (count_over_time, rate) or the line's
// length in bytes (bytes_over_time, bytes_rate).
const (
	CountSample LineSampleKind = iota
	BytesSample
)

// Conversion is how `| unwrap` turns a label value into a sample.
type Conversion int

// Unwrap conversions: a float, duration(label) and duration_seconds(label)
// (seconds), bytes(label) (bytes).
const (
	ConvertNone Conversion = iota
	ConvertDuration
	ConvertDurationSeconds
	ConvertBytes
)

func (c Conversion) String() string {
	switch c {
	case ConvertNone:
		return ""
	case ConvertDuration:
		return "duration"
	case ConvertDurationSeconds:
		return "duration_seconds"
	case ConvertBytes:
		return "bytes"
	}
	return fmt.Sprintf("Conversion(%d)", int(c))
}

func (c Conversion) convert(v string) (float64, error) {
	switch c {
	case ConvertDuration, ConvertDurationSeconds:
		d, err := ParseDuration(v)
		if err != nil {
			return 0, err
		}
		return d.Seconds(), nil
	case ConvertBytes:
		b, err := ParseBytes(v)
		if err != nil {
			return 0, err
		}
		return float64(b), nil
	default:
		return strconv.ParseFloat(v, 64)
	}
}

// SampleExtractor turns log lines into samples for metric queries. It is not
// safe for concurrent use.
type SampleExtractor struct {
	p        *Pipeline
	kind     LineSampleKind
	label    string // unwrapped label; "" for line samples
	conv     Conversion
	post     []Stage
	grouping []string
	without  bool
	streams  map[uint64][]*StreamSampleExtractor
}

// NewLineSampleExtractor returns an extractor producing one sample per line
// kept by p: 1 for CountSample, the output line's length for BytesSample.
// Sample labels are grouped by grouping (or stripped of it when without).
// A nil grouping with without=false keeps all labels.
func NewLineSampleExtractor(kind LineSampleKind, p *Pipeline, grouping []string, without bool) *SampleExtractor {
	if p == nil {
		p = NewPipeline(nil)
	}
	g, w := grouping, without
	if len(g) == 0 && !w {
		w = true // no grouping: keep everything
	}
	e := &SampleExtractor{p: p, kind: kind, grouping: sortedSet(g), without: w, streams: make(map[uint64][]*StreamSampleExtractor)}
	e.hint()
	return e
}

// hint tells the pipeline's parsers which labels the samples need: with a
// `by` grouping only the grouped labels and those later stages read are
// extracted. The extractor therefore owns p: the same Pipeline must not
// also serve a log query.
func (e *SampleExtractor) hint() {
	if e.without {
		return // every label not excluded is needed
	}
	needed := make(map[string]struct{}, len(e.grouping)+1)
	for _, g := range e.grouping {
		needed[g] = struct{}{}
	}
	if e.label != "" {
		needed[e.label] = struct{}{}
		for _, s := range e.post {
			names, all := stageRequirements(s)
			if all {
				return
			}
			for _, n := range names {
				needed[n] = struct{}{}
			}
		}
	}
	applyHints(e.p.stages, needed)
}

// NewLabelSampleExtractor returns an extractor for `| unwrap [conv](label)`:
// the value of label after p, converted. A missing or unconvertible value
// yields a sample carrying __error__=SampleExtractionErr (and
// __error_details__); postFilters (label filters after unwrap) run after
// the conversion and may drop such samples. As in Loki the unwrapped label
// is removed from the sample's labels unless grouping lists it.
func NewLabelSampleExtractor(label string, conv Conversion, postFilters []Stage, p *Pipeline, grouping []string, without bool) (*SampleExtractor, error) {
	if label == "" {
		return nil, fmt.Errorf("unwrap: empty label name")
	}
	if conv < ConvertNone || conv > ConvertBytes {
		return nil, fmt.Errorf("unwrap %s: unknown conversion %d", label, int(conv))
	}
	if p == nil {
		p = NewPipeline(nil)
	}
	g, w := slices.Clone(grouping), without
	if len(g) == 0 || w {
		w = true
		g = append(g, label)
	}
	g = sortedSet(g)
	e := &SampleExtractor{
		p: p, label: label, conv: conv, post: postFilters,
		grouping: g, without: w, streams: make(map[uint64][]*StreamSampleExtractor),
	}
	e.hint()
	return e, nil
}

// sortedSet returns the names sorted and without repeats, a copy: the
// labels builder groups by a sorted set without merging every label.
func sortedSet(names []string) []string {
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// ForStream returns the extractor bound to one stream; calls with equal
// labels return the same value.
func (e *SampleExtractor) ForStream(lbls labels.Labels) *StreamSampleExtractor {
	h := lbls.Hash()
	for _, s := range e.streams[h] {
		if labels.Equal(s.sp.builder.stream, lbls) {
			return s
		}
	}
	s := &StreamSampleExtractor{e: e, sp: e.p.ForStream(lbls)}
	e.streams[h] = append(e.streams[h], s)
	return s
}

// StreamSampleExtractor is a SampleExtractor bound to one stream.
type StreamSampleExtractor struct {
	e  *SampleExtractor
	sp *StreamPipeline
}

// Process extracts the sample of one entry: its value, the sample's labels
// and their hash, and whether the entry yields a sample.
func (s *StreamSampleExtractor) Process(ts int64, line []byte, metadata labels.Labels) (value float64, lbls labels.Labels, hash uint64, ok bool) {
	out, kept := s.sp.run(ts, line, metadata)
	if !kept {
		return 0, labels.EmptyLabels(), 0, false
	}
	b := s.sp.builder
	e := s.e
	if e.label == "" {
		value = 1
		if e.kind == BytesSample {
			value = float64(len(out))
		}
	} else {
		v, _ := b.Get(e.label)
		f, err := e.conv.convert(v)
		if err != nil {
			b.setError(ErrSampleExtraction, err.Error())
		}
		value = f
		for _, st := range e.post {
			if out, kept = st.Process(ts, out, b); !kept {
				return 0, labels.EmptyLabels(), 0, false
			}
		}
	}
	lbls, hash = b.GroupedLabels(e.grouping, e.without)
	return value, lbls, hash, true
}
