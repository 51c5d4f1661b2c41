package syntax

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// ParseDuration parses a LogQL duration: Prometheus syntax first ("1h30m",
// "5d", "1w", "1y"), then Go's time.ParseDuration for what Prometheus lacks
// ("1.5h", "250us", "10µs", "-5m"). This is the syntax of label-filter and
// offset durations; ranges ("[5m]") accept Prometheus syntax only.
func ParseDuration(s string) (time.Duration, error) {
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("not a valid duration string: %q", s)
	}
	return d, nil
}

var byteUnits = map[string]uint64{
	"": 1, "b": 1,
	"k": 1e3, "kb": 1e3, "ki": 1 << 10, "kib": 1 << 10,
	"m": 1e6, "mb": 1e6, "mi": 1 << 20, "mib": 1 << 20,
	"g": 1e9, "gb": 1e9, "gi": 1 << 30, "gib": 1 << 30,
	"t": 1e12, "tb": 1e12, "ti": 1 << 40, "tib": 1 << 40,
	"p": 1e15, "pb": 1e15, "pi": 1 << 50, "pib": 1 << 50,
}

var errBadBytes = errors.New("invalid byte size")

// ParseBytes parses a byte size such as "20MB", "1.5KiB" or "42B". Decimal
// (kB, MB, ...) and binary (KiB, MiB, ...) units are accepted up to peta,
// units case-insensitively, as Loki (go-humanize) does. Integral sizes are
// computed exactly; fractional ones are rounded down.
func ParseBytes(s string) (uint64, error) {
	i := 0
	for i < len(s) && (isDigit(s[i]) || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := byteUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("%w: %q", errBadBytes, s)
	}
	if !strings.Contains(num, ".") {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || (mult != 0 && n > math.MaxUint64/mult) {
			return 0, fmt.Errorf("%w: %q", errBadBytes, s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %q", errBadBytes, s)
	}
	f *= float64(mult)
	if f >= math.MaxUint64 {
		return 0, fmt.Errorf("%w: %q", errBadBytes, s)
	}
	return uint64(f), nil
}

// formatBytes prints b in the largest unit that divides it exactly, binary
// units preferred, so the text re-lexes to the same value.
func formatBytes(b uint64) string {
	if b == 0 {
		return "0B"
	}
	for _, u := range [...]struct {
		name string
		mult uint64
	}{{"PiB", 1 << 50}, {"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
		{"PB", 1e15}, {"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if b%u.mult == 0 {
			return strconv.FormatUint(b/u.mult, 10) + u.name
		}
	}
	return strconv.FormatUint(b, 10) + "B"
}

// formatDuration prints d so that ParseDuration reads it back exactly:
// Prometheus style ("1h30m", "1d") for whole milliseconds, Go style
// otherwise ("1.5µs", "-5m0s").
func formatDuration(d time.Duration) string {
	switch {
	case d > 0 && d%time.Millisecond == 0:
		return model.Duration(d).String()
	case d < 0 && d > math.MinInt64 && d%time.Millisecond == 0:
		return "-" + model.Duration(-d).String()
	}
	return d.String()
}

// formatFloat prints a number so the lexer reads it back to the same
// float64 (shortest exact representation).
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// parseNumber parses a NUMBER token: decimal, float or hex integer.
func parseNumber(s string) (float64, error) {
	if strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "0X") {
		n, err := strconv.ParseUint(s[2:], 16, 64)
		if err != nil {
			return 0, err
		}
		return float64(n), nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, err
	}
	if math.IsInf(f, 0) {
		return 0, fmt.Errorf("number %s out of range", s)
	}
	return f, nil
}
