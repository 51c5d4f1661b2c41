package querier

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/plgstack/plg/chunks"
)

// errBadParam marks malformed request parameters (HTTP 400). Errors that
// match it with errors.Is carry their own message.
var errBadParam = errors.New("bad request")

type badRequestError struct{ msg string }

func (e *badRequestError) Error() string        { return e.msg }
func (e *badRequestError) Is(target error) bool { return target == errBadParam }

func badRequest(format string, args ...any) error {
	return &badRequestError{msg: fmt.Sprintf(format, args...)}
}

func badParam(name, value, why string) error {
	return badRequest("invalid %s %q: %s", name, value, why)
}

// parseTime reads a timestamp as Loki does: an integer is Unix nanoseconds
// (or seconds when it has at most 10 digits), a decimal is Unix seconds with
// a fraction, anything else RFC3339(Nano).
func parseTime(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	if strings.Contains(v, ".") {
		if f, err := strconv.ParseFloat(v, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			sec, frac := math.Modf(f)
			return time.Unix(int64(sec), int64(math.Round(frac*1e9))), nil
		}
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if len(strings.TrimPrefix(v, "-")) <= 10 {
			return time.Unix(n, 0), nil
		}
		return time.Unix(0, n), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, badParam(name, v, "want Unix nanoseconds, Unix seconds with a fraction, or RFC3339")
	}
	return t, nil
}

// parseDurationParam reads a Prometheus duration ("5m", "60000ms") or float
// seconds ("15", "0.5").
func parseDurationParam(name, v string) (time.Duration, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) || math.IsInf(f, 0) || f > float64(math.MaxInt64)/1e9 {
			return 0, badParam(name, v, "must be a positive number of seconds")
		}
		return time.Duration(f * float64(time.Second)), nil
	}
	d, err := model.ParseDuration(v)
	if err != nil {
		return 0, badParam(name, v, "want a duration like 30s, 5m, 60000ms, or float seconds")
	}
	return time.Duration(d), nil
}

func parseLimit(v string, def int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, badParam("limit", v, "must be a non-negative integer")
	}
	if n == 0 {
		return def, nil
	}
	return n, nil
}

func parseDirection(v string) (chunks.Direction, error) {
	switch strings.ToLower(v) {
	case "", "backward":
		return chunks.Backward, nil
	case "forward":
		return chunks.Forward, nil
	}
	return 0, badParam("direction", v, "must be forward or backward")
}

// timeRange reads start, end and since, with Loki's defaults: the last hour
// (defaultLookback) ending now.
func timeRange(r *http.Request, now time.Time, defaultLookback time.Duration) (start, end time.Time, err error) {
	end, err = parseTime("end", r.Form.Get("end"), now)
	if err != nil {
		return
	}
	def := end.Add(-defaultLookback)
	if s := r.Form.Get("since"); s != "" {
		d, derr := parseDurationParam("since", s)
		if derr != nil {
			return start, end, derr
		}
		def = end.Add(-d)
	}
	start, err = parseTime("start", r.Form.Get("start"), def)
	if err != nil {
		return
	}
	if end.Before(start) {
		err = badRequest("end (%s) is before start (%s)", end.Format(time.RFC3339Nano), start.Format(time.RFC3339Nano))
	}
	return
}

// defaultStep is Loki's: the range split into about 250 points, at least 1s.
func defaultStep(start, end time.Time) time.Duration {
	s := math.Max(math.Floor(end.Sub(start).Seconds()/250), 1)
	return time.Duration(s) * time.Second
}
