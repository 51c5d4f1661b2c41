package log

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

var byteUnits = []struct {
	unit string
	mult float64
}{
	{"", 1}, {"b", 1},
	{"k", 1e3}, {"kb", 1e3}, {"ki", 1 << 10}, {"kib", 1 << 10},
	{"m", 1e6}, {"mb", 1e6}, {"mi", 1 << 20}, {"mib", 1 << 20},
	{"g", 1e9}, {"gb", 1e9}, {"gi", 1 << 30}, {"gib", 1 << 30},
	{"t", 1e12}, {"tb", 1e12}, {"ti", 1 << 40}, {"tib", 1 << 40},
	{"p", 1e15}, {"pb", 1e15}, {"pi", 1 << 50}, {"pib", 1 << 50},
	{"e", 1e18}, {"eb", 1e18}, {"ei", 1 << 60}, {"eib", 1 << 60},
}

var errBytesTooLarge = errors.New("too large")

// ParseBytes parses a humanized byte size as Loki does (go-humanize
// semantics): "42", "42B", "1.5KiB", "3 MB"; units are case-insensitive,
// kB/KB/k are 1000 and KiB/Ki are 1024.
func ParseBytes(s string) (uint64, error) {
	lastDigit := 0
	hasComma := false
	for _, r := range s {
		if !(('0' <= r && r <= '9') || r == '.' || r == ',') {
			break
		}
		if r == ',' {
			hasComma = true
		}
		lastDigit++
	}
	num := s[:lastDigit]
	if hasComma {
		num = strings.ReplaceAll(num, ",", "")
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("bytes %q: %w", s, err)
	}
	unit := strings.TrimSpace(s[lastDigit:])
	for _, u := range byteUnits {
		if strings.EqualFold(unit, u.unit) {
			f *= u.mult
			if f >= math.MaxUint64 {
				return 0, fmt.Errorf("bytes %q: %w", s, errBytesTooLarge)
			}
			return uint64(f), nil
		}
	}
	return 0, fmt.Errorf("bytes %q: unhandled size name %q", s, unit)
}

// ParseDuration parses a duration label value: Go's time.ParseDuration
// syntax (units ns, us, µs, ms, s, m, h), as Loki's duration filters and
// unwrap duration() use.
func ParseDuration(s string) (time.Duration, error) {
	return time.ParseDuration(s)
}
