package log

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// templateFuncs returns the functions line_format and label_format offer,
// named and behaving as in Loki (most come from sprig there). Regular
// expressions are compiled once per template and cached in rc.
func templateFuncs(rc *regexCache) template.FuncMap {
	return template.FuncMap{
		"ToLower":    strings.ToLower,
		"ToUpper":    strings.ToUpper,
		"lower":      strings.ToLower,
		"upper":      strings.ToUpper,
		"title":      title,
		"Replace":    strings.Replace,
		"replace":    func(old, new, src string) string { return strings.ReplaceAll(src, old, new) },
		"Trim":       strings.Trim,
		"TrimLeft":   strings.TrimLeft,
		"TrimRight":  strings.TrimRight,
		"TrimPrefix": strings.TrimPrefix,
		"TrimSuffix": strings.TrimSuffix,
		"TrimSpace":  strings.TrimSpace,
		"trim":       strings.TrimSpace,
		"trimAll":    func(cutset, s string) string { return strings.Trim(s, cutset) },
		"trimPrefix": func(prefix, s string) string { return strings.TrimPrefix(s, prefix) },
		"trimSuffix": func(suffix, s string) string { return strings.TrimSuffix(s, suffix) },
		"regexReplaceAll": func(re, s, repl string) (string, error) {
			r, err := rc.get(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllString(s, repl), nil
		},
		"regexReplaceAllLiteral": func(re, s, repl string) (string, error) {
			r, err := rc.get(re)
			if err != nil {
				return "", err
			}
			return r.ReplaceAllLiteralString(s, repl), nil
		},
		"count": func(re, s string) (int, error) {
			r, err := rc.get(re)
			if err != nil {
				return 0, err
			}
			return len(r.FindAllStringIndex(s, -1)), nil
		},
		"contains":  func(substr, s string) bool { return strings.Contains(s, substr) },
		"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
		"hasSuffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
		"indent":    indent,
		"nindent":   func(n int, s string) string { return "\n" + indent(n, s) },
		"repeat": func(n int, s string) (string, error) {
			if n < 0 || n > 1<<16 {
				return "", fmt.Errorf("repeat: count %d out of range", n)
			}
			return strings.Repeat(s, n), nil
		},
		"substr":          substr,
		"trunc":           trunc,
		"default":         dfault,
		"fromJson":        fromJSON,
		"date":            date,
		"toDate":          toDate,
		"toDateInZone":    toDateInZone,
		"now":             time.Now,
		"unixEpoch":       func(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) },
		"unixEpochMillis": func(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) },
		"unixEpochNanos":  func(t time.Time) string { return strconv.FormatInt(t.UnixNano(), 10) },
		"unixToTime":      unixToTime,
		"alignLeft":       alignLeft,
		"alignRight":      alignRight,
		"b64enc":          func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"b64dec": func(s string) string {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return err.Error()
			}
			return string(b)
		},
		"urlencode":        url.QueryEscape,
		"urldecode":        url.QueryUnescape,
		"bytes":            ConvertBytes.convert,
		"duration":         ConvertDuration.convert,
		"duration_seconds": ConvertDuration.convert,
		"add": func(a any, rest ...any) int64 {
			s := toInt64(a)
			for _, v := range rest {
				s += toInt64(v)
			}
			return s
		},
		"sub": func(a, b any) int64 { return toInt64(a) - toInt64(b) },
		"mul": func(a any, rest ...any) int64 {
			p := toInt64(a)
			for _, v := range rest {
				p *= toInt64(v)
			}
			return p
		},
		"div": func(a, b any) (int64, error) {
			d := toInt64(b)
			if d == 0 {
				return 0, errDivByZero
			}
			return toInt64(a) / d, nil
		},
		"mod": func(a, b any) (int64, error) {
			d := toInt64(b)
			if d == 0 {
				return 0, errDivByZero
			}
			return toInt64(a) % d, nil
		},
		"addf": func(a any, rest ...any) float64 {
			s := toFloat64(a)
			for _, v := range rest {
				s += toFloat64(v)
			}
			return s
		},
		"subf": func(a any, rest ...any) float64 {
			s := toFloat64(a)
			for _, v := range rest {
				s -= toFloat64(v)
			}
			return s
		},
		"mulf": func(a any, rest ...any) float64 {
			p := toFloat64(a)
			for _, v := range rest {
				p *= toFloat64(v)
			}
			return p
		},
		"divf": func(a any, rest ...any) float64 {
			q := toFloat64(a)
			for _, v := range rest {
				q /= toFloat64(v)
			}
			return q
		},
		"max": func(a any, rest ...any) int64 {
			m := toInt64(a)
			for _, v := range rest {
				m = max(m, toInt64(v))
			}
			return m
		},
		"min": func(a any, rest ...any) int64 {
			m := toInt64(a)
			for _, v := range rest {
				m = min(m, toInt64(v))
			}
			return m
		},
		"maxf": func(a any, rest ...any) float64 {
			m := toFloat64(a)
			for _, v := range rest {
				m = math.Max(m, toFloat64(v))
			}
			return m
		},
		"minf": func(a any, rest ...any) float64 {
			m := toFloat64(a)
			for _, v := range rest {
				m = math.Min(m, toFloat64(v))
			}
			return m
		},
		"ceil":    func(a any) float64 { return math.Ceil(toFloat64(a)) },
		"floor":   func(a any) float64 { return math.Floor(toFloat64(a)) },
		"round":   round,
		"int":     func(a any) int { return int(toInt64(a)) },
		"float64": toFloat64,
	}
}

var errDivByZero = errors.New("division by zero")

// regexCache holds the regular expressions a template's functions use.
type regexCache struct {
	m map[string]*regexp.Regexp
}

func (c *regexCache) get(expr string) (*regexp.Regexp, error) {
	if r, ok := c.m[expr]; ok {
		return r, nil
	}
	r, err := regexp.Compile(expr)
	if err != nil {
		return nil, err
	}
	if c.m == nil || len(c.m) > 64 {
		c.m = make(map[string]*regexp.Regexp)
	}
	c.m[expr] = r
	return r, nil
}

// title upper-cases the first letter of each word, with the word
// boundaries of the deprecated strings.Title that Loki uses.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		start := isTitleSeparator(prev)
		prev = r
		if start {
			return unicode.ToTitle(r)
		}
		return r
	}, s)
}

func isTitleSeparator(r rune) bool {
	if r < utf8.RuneSelf {
		return !isIdentByte(byte(r))
	}
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return false
	}
	return unicode.IsSpace(r)
}

func indent(n int, s string) string {
	if n < 0 {
		n = 0
	}
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}

// substr returns runes [start, end) of s: a negative start means from the
// beginning, a negative or too large end means to the end.
func substr(start, end int, s string) string {
	runes := []rune(s)
	n := len(runes)
	end = min(end, n)
	start = min(start, n)
	switch {
	case start < 0 && end < 0:
		return ""
	case start < 0:
		return string(runes[:end])
	case end < 0:
		return string(runes[start:])
	case start > end:
		return ""
	}
	return string(runes[start:end])
}

// trunc keeps the first n runes, or for negative n the last -n runes.
func trunc(n int, s string) string {
	runes := []rune(s)
	l := len(runes)
	if n < 0 && l+n > 0 {
		return string(runes[l+n:])
	}
	if n >= 0 && l > n {
		return string(runes[:n])
	}
	return s
}

// toDate parses s with a Go layout in local time; failures give the zero
// time, as sprig's toDate.
func toDate(layout, s string) time.Time {
	t, _ := time.ParseInLocation(layout, s, time.Local)
	return t
}

// toDateInZone parses s with a Go layout in zone (UTC when the zone is
// unknown); failures give the zero time.
func toDateInZone(layout, zone, s string) time.Time {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		loc = time.UTC
	}
	t, _ := time.ParseInLocation(layout, s, loc)
	return t
}

// dfault is sprig's default: `{{ .x | default "fallback" }}` returns the
// fallback when the value is missing or empty.
func dfault(d any, given ...any) any {
	if len(given) == 0 || isEmpty(given[0]) {
		return d
	}
	return given[0]
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case bool:
		return !x
	case int:
		return x == 0
	case int64:
		return x == 0
	case float64:
		return x == 0
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}

func fromJSON(s string) any {
	var out any
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil
	}
	return out
}

// date formats a time (or unix seconds) with a Go layout in local time.
func date(layout string, t any) string {
	var tm time.Time
	switch v := t.(type) {
	case time.Time:
		tm = v
	case *time.Time:
		tm = *v
	case int64:
		tm = time.Unix(v, 0)
	case int:
		tm = time.Unix(int64(v), 0)
	case int32:
		tm = time.Unix(int64(v), 0)
	default:
		tm = time.Now()
	}
	return tm.In(time.Local).Format(layout)
}

// unixToTime parses an epoch whose unit is inferred from its length: 5
// digits days, 10 seconds, 13 milliseconds, 16 microseconds, 19 nanoseconds.
func unixToTime(epoch string) (time.Time, error) {
	i, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("unable to parse time %q: %w", epoch, err)
	}
	switch len(epoch) {
	case 5:
		return time.Unix(i*86400, 0), nil
	case 10:
		return time.Unix(i, 0), nil
	case 13:
		return time.UnixMilli(i), nil
	case 16:
		return time.UnixMicro(i), nil
	case 19:
		return time.Unix(0, i), nil
	}
	return time.Time{}, fmt.Errorf("unable to parse time %q: length %d matches no known unit", epoch, len(epoch))
}

// alignLeft pads s with spaces on the right to n runes, or truncates it to
// its first n runes.
func alignLeft(n int, s string) string {
	if n < 0 {
		return s
	}
	rc := utf8.RuneCountInString(s)
	if rc <= n {
		return s + strings.Repeat(" ", n-rc)
	}
	i := 0
	for k := range s {
		if i == n {
			return s[:k]
		}
		i++
	}
	return s
}

// alignRight pads s with spaces on the left to n runes, or keeps its last n
// runes.
func alignRight(n int, s string) string {
	if n < 0 {
		return s
	}
	rc := utf8.RuneCountInString(s)
	if rc <= n {
		return strings.Repeat(" ", n-rc) + s
	}
	skip := rc - n
	i := 0
	for k := range s {
		if i == skip {
			return s[k:]
		}
		i++
	}
	return ""
}

// round is sprig's round: round(value, places[, roundOn=0.5]).
func round(a any, p int, rOpt ...float64) float64 {
	roundOn := 0.5
	if len(rOpt) > 0 {
		roundOn = rOpt[0]
	}
	val := toFloat64(a)
	pow := math.Pow(10, float64(p))
	digit := pow * val
	_, div := math.Modf(digit)
	var r float64
	if div >= roundOn {
		r = math.Ceil(digit)
	} else {
		r = math.Floor(digit)
	}
	return r / pow
}

// toInt64 converts like sprig (spf13/cast): numbers truncate, strings parse
// as integers (with a ".0" tail allowed), anything else is 0.
func toInt64(v any) int64 {
	switch x := v.(type) {
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case int64:
		return x
	case uint:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return int64(x)
	case float32:
		return int64(x)
	case float64:
		return int64(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case string:
		s := strings.TrimSpace(x)
		if i := strings.IndexByte(s, '.'); i >= 0 && strings.Trim(s[i+1:], "0") == "" {
			s = s[:i]
		}
		n, err := strconv.ParseInt(s, 0, 64)
		if err != nil {
			return 0
		}
		return n
	}
	return 0
}

// toFloat64 converts like sprig: strings parse as floats, failures are 0.
func toFloat64(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case float32:
		return float64(x)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0
		}
		return f
	case bool:
		if x {
			return 1
		}
		return 0
	}
	return float64(toInt64(v))
}
