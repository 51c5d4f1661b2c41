package stages

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/plgstack/plg/agent/entry"
)

// TimestampConfig is the timestamp stage.
type TimestampConfig struct {
	Source          string   `yaml:"source"`
	Format          string   `yaml:"format"`
	FallbackFormats []string `yaml:"fallback_formats"`
	Location        *string  `yaml:"location"`
	ActionOnFailure *string  `yaml:"action_on_failure"`
}

var namedLayouts = map[string]string{
	"ANSIC":       time.ANSIC,
	"UnixDate":    time.UnixDate,
	"RubyDate":    time.RubyDate,
	"RFC822":      time.RFC822,
	"RFC822Z":     time.RFC822Z,
	"RFC850":      time.RFC850,
	"RFC1123":     time.RFC1123,
	"RFC1123Z":    time.RFC1123Z,
	"RFC3339":     time.RFC3339,
	"RFC3339Nano": time.RFC3339Nano,
	"Kitchen":     time.Kitchen,
	"Stamp":       time.Stamp,
	"StampMilli":  time.StampMilli,
	"StampMicro":  time.StampMicro,
	"StampNano":   time.StampNano,
	"DateTime":    time.DateTime,
	"DateOnly":    time.DateOnly,
}

// TimeParser parses a timestamp in one configured format. Use
// NewTimeParser.
type TimeParser func(s string) (time.Time, error)

// NewTimeParser returns a parser for a Promtail timestamp format: a named
// Go layout (RFC3339, ANSIC, ...), Unix / UnixMs / UnixUs / UnixNs, or a Go
// reference-time layout. Layouts without a year get the current one (or
// the previous one, for a date that would otherwise lie in the future, as
// after New Year); loc applies to layouts without a zone.
func NewTimeParser(format string, loc *time.Location, now func() time.Time) (TimeParser, error) {
	if loc == nil {
		loc = time.UTC
	}
	switch format {
	case "":
		return nil, fmt.Errorf("empty format")
	case "Unix":
		return parseUnixSeconds, nil
	case "UnixMs":
		return unixInt(time.Millisecond), nil
	case "UnixUs":
		return unixInt(time.Microsecond), nil
	case "UnixNs":
		return unixInt(time.Nanosecond), nil
	}
	layout := format
	if l, ok := namedLayouts[format]; ok {
		layout = l
	}
	// A layout must mention at least one reference-time element.
	if !strings.ContainsAny(layout, "0123456789") && !strings.Contains(layout, "Jan") && !strings.Contains(layout, "Mon") {
		return nil, fmt.Errorf("format %q is neither a known name nor a Go time layout", format)
	}
	hasYear := strings.Contains(layout, "2006") || strings.Contains(layout, "06")
	return func(s string) (time.Time, error) {
		t, err := time.ParseInLocation(layout, s, loc)
		if err != nil {
			return t, err
		}
		if !hasYear && t.Year() == 0 {
			n := now().In(loc)
			t = t.AddDate(n.Year(), 0, 0)
			if t.After(n.Add(24 * time.Hour)) {
				t = t.AddDate(-1, 0, 0)
			}
		}
		return t, nil
	}, nil
}

func parseUnixSeconds(s string) (time.Time, error) {
	sec, frac, hasFrac := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("unix timestamp %q: %w", s, err)
	}
	var nanos int64
	if hasFrac {
		if len(frac) == 0 || len(frac) > 9 {
			return time.Time{}, fmt.Errorf("unix timestamp %q: bad fraction", s)
		}
		f, err := strconv.ParseUint(frac, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("unix timestamp %q: %w", s, err)
		}
		nanos = int64(f) * int64(math.Pow10(9-len(frac)))
	}
	return time.Unix(n, nanos), nil
}

func unixInt(unit time.Duration) TimeParser {
	return func(s string) (time.Time, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, fmt.Errorf("unix timestamp %q: %w", s, err)
		}
		u := int64(unit)
		return time.Unix(n/(int64(time.Second)/u), (n%(int64(time.Second)/u))*u), nil
	}
}

func buildTimestamp(n *yaml.Node, o *Options) (factory, error) {
	var cfg TimestampConfig
	if err := decodeStrict(n, &cfg); err != nil {
		return nil, err
	}
	if cfg.Source == "" {
		return nil, fieldErr("source", "required")
	}
	loc := time.UTC
	if cfg.Location != nil {
		l, err := time.LoadLocation(*cfg.Location)
		if err != nil {
			return nil, fieldErr("location", "%v", err)
		}
		loc = l
	}
	action := "fudge"
	if cfg.ActionOnFailure != nil {
		action = *cfg.ActionOnFailure
	}
	if !oneOf(action, "fudge", "skip") {
		return nil, fieldErr("action_on_failure", "%q: want fudge or skip", action)
	}
	var parsers []TimeParser
	for i, f := range append([]string{cfg.Format}, cfg.FallbackFormats...) {
		p, err := NewTimeParser(f, loc, o.Now)
		if err != nil {
			field := "format"
			if i > 0 {
				field = fmt.Sprintf("fallback_formats[%d]", i-1)
			}
			return nil, fieldErr(field, "%v", err)
		}
		parsers = append(parsers, p)
	}
	return func() Stage {
		return &timestampStage{source: cfg.Source, parsers: parsers, fudge: action == "fudge"}
	}, nil
}

type timestampStage struct {
	source  string
	parsers []TimeParser
	fudge   bool
	last    int64
}

func (s *timestampStage) Process(e *entry.Entry) bool {
	v, ok := valueString(e.Extracted[s.source])
	if !ok {
		return true
	}
	for _, p := range s.parsers {
		if t, err := p(v); err == nil {
			e.Timestamp = t.UnixNano()
			s.last = e.Timestamp
			return true
		}
	}
	if s.fudge && s.last != 0 {
		s.last++
		e.Timestamp = s.last
	}
	return true
}
