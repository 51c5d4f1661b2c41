package querier

import (
	"errors"
	"testing"
	"time"

	"github.com/plgstack/plg/chunks"
)

func TestParseTimeAcceptsLokiFormats(t *testing.T) {
	def := time.Unix(42, 0)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"", def},
		{"1700000000", time.Unix(1700000000, 0)}, // 10 digits: seconds, as Loki
		{"1700000000123456789", time.Unix(0, 1700000000123456789)}, // nanoseconds
		{"1700000000.5", time.Unix(1700000000, 500000000)},
		{"2024-03-01T12:00:00Z", time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"2024-03-01T12:00:00.25+01:00", time.Date(2024, 3, 1, 11, 0, 0, 250000000, time.UTC)},
	} {
		got, err := parseTime("start", tc.in, def)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseTime(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"yesterday", "12:00", "1.2.3", "NaN."} {
		if _, err := parseTime("start", bad, def); !errors.Is(err, errBadParam) {
			t.Errorf("parseTime(%q) error = %v, want a bad-request error", bad, err)
		}
	}
}

func TestParseDurationParam(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"60000ms", time.Minute}, // Grafana's step
		{"15", 15 * time.Second},
		{"0.5", 500 * time.Millisecond},
		{"1h30m", 90 * time.Minute},
		{"1d", 24 * time.Hour},
	} {
		got, err := parseDurationParam("step", tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseDurationParam(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"-1", "abc", "5 m"} {
		if _, err := parseDurationParam("step", bad); !errors.Is(err, errBadParam) {
			t.Errorf("parseDurationParam(%q) error = %v", bad, err)
		}
	}
}

func TestDefaultStepSplitsTheRangeInto250Points(t *testing.T) {
	start := time.Unix(0, 0)
	if got := defaultStep(start, start.Add(time.Hour)); got != 14*time.Second {
		t.Errorf("1h range: step %v, want 14s", got)
	}
	if got := defaultStep(start, start.Add(time.Minute)); got != time.Second {
		t.Errorf("1m range: step %v, want the 1s minimum", got)
	}
}

func TestParseDirectionIsCaseInsensitive(t *testing.T) {
	for in, want := range map[string]chunks.Direction{
		"": chunks.Backward, "BACKWARD": chunks.Backward, "backward": chunks.Backward,
		"forward": chunks.Forward, "FORWARD": chunks.Forward,
	} {
		d, err := parseDirection(in)
		if err != nil || d != want {
			t.Errorf("parseDirection(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	if _, err := parseDirection("sideways"); !errors.Is(err, errBadParam) {
		t.Errorf("sideways: %v", err)
	}
}
