package querier

import (
	"math"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/plgstack/plg/querier/logql"
)

// The encoders below write Loki's response JSON by hand: result sets reach
// tens of thousands of lines, and reflection-based encoding would dominate
// the cost of a query that the engine answered in milliseconds.

const hexDigits = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		// U+2028 and U+2029 break JavaScript that evals JSON.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendLabelsObject(b []byte, lbs labels.Labels) []byte {
	b = append(b, '{')
	first := true
	lbs.Range(func(l labels.Label) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = appendJSONString(b, l.Name)
		b = append(b, ':')
		b = appendJSONString(b, l.Value)
	})
	return append(b, '}')
}

func appendStringArray(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

// appendPoint writes [<unix seconds>,"<value>"] as Prometheus does.
func appendPoint(b []byte, p logql.Point) []byte {
	b = append(b, '[')
	b = strconv.AppendFloat(b, float64(p.T)/1000, 'f', -1, 64)
	b = append(b, ',', '"')
	b = appendFloatValue(b, p.V)
	return append(b, '"', ']')
}

func appendFloatValue(b []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(b, "NaN"...)
	case math.IsInf(v, 1):
		return append(b, "+Inf"...)
	case math.IsInf(v, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

// appendResult writes {"status":"success","data":{...}} for a query result.
func appendResult(b []byte, res *logql.Result, categorize bool) []byte {
	b = append(b, `{"status":"success","data":{"resultType":`...)
	b = appendJSONString(b, string(res.Type))
	b = append(b, `,"result":`...)
	switch res.Type {
	case logql.ValueStreams:
		b = appendStreams(b, res.Streams, categorize)
	case logql.ValueMatrix:
		b = append(b, '[')
		for i, s := range res.Matrix {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabelsObject(b, s.Metric)
			b = append(b, `,"values":[`...)
			for j, p := range s.Points {
				if j > 0 {
					b = append(b, ',')
				}
				b = appendPoint(b, p)
			}
			b = append(b, ']', '}')
		}
		b = append(b, ']')
	case logql.ValueVector:
		b = append(b, '[')
		for i, s := range res.Vector {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"metric":`...)
			b = appendLabelsObject(b, s.Metric)
			b = append(b, `,"value":`...)
			b = appendPoint(b, s.Point)
			b = append(b, '}')
		}
		b = append(b, ']')
	case logql.ValueScalar:
		b = appendPoint(b, res.Scalar)
	default:
		b = append(b, "[]"...)
	}
	b = append(b, `,"stats":`...)
	b = appendStats(b, &res.Stats)
	return append(b, '}', '}')
}

// appendStreams writes a streams result: [{"stream":{...},"values":[["<ns>","<line>"],...]},...].
// With categorize set (Grafana's categorize-labels flag), each value
// carries a third element separating structured metadata and parsed labels.
func appendStreams(b []byte, streams []logql.Stream, categorize bool) []byte {
	b = append(b, '[')
	for i, s := range streams {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"stream":`...)
		b = appendLabelsObject(b, s.Labels)
		b = append(b, `,"values":[`...)
		for j, e := range s.Entries {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[', '"')
			b = strconv.AppendInt(b, e.Timestamp, 10)
			b = append(b, '"', ',')
			b = appendJSONString(b, e.Line)
			if categorize && (e.StructuredMetadata.Len() > 0 || e.Parsed.Len() > 0) {
				b = append(b, ',', '{')
				if e.StructuredMetadata.Len() > 0 {
					b = append(b, `"structuredMetadata":`...)
					b = appendLabelsObject(b, e.StructuredMetadata)
					if e.Parsed.Len() > 0 {
						b = append(b, ',')
					}
				}
				if e.Parsed.Len() > 0 {
					b = append(b, `"parsed":`...)
					b = appendLabelsObject(b, e.Parsed)
				}
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, ']', '}')
	}
	return append(b, ']')
}

func appendStats(b []byte, s *logql.Stats) []byte {
	secs := s.ExecTime.Seconds()
	perSec := func(n int64) int64 {
		if secs <= 0 {
			return 0
		}
		return int64(float64(n) / secs)
	}
	b = append(b, `{"summary":{"bytesProcessedPerSecond":`...)
	b = strconv.AppendInt(b, perSec(s.TotalBytesProcessed), 10)
	b = append(b, `,"linesProcessedPerSecond":`...)
	b = strconv.AppendInt(b, perSec(s.TotalLinesProcessed), 10)
	b = append(b, `,"totalBytesProcessed":`...)
	b = strconv.AppendInt(b, s.TotalBytesProcessed, 10)
	b = append(b, `,"totalLinesProcessed":`...)
	b = strconv.AppendInt(b, s.TotalLinesProcessed, 10)
	b = append(b, `,"execTime":`...)
	b = strconv.AppendFloat(b, secs, 'f', -1, 64)
	b = append(b, `,"queueTime":0,"totalEntriesReturned":0,"subqueries":0},"querier":{"store":{"chunk":{"compressedBytes":`...)
	b = strconv.AppendInt(b, s.CompressedBytes, 10)
	b = append(b, `,"decompressedBytes":`...)
	b = strconv.AppendInt(b, s.DecompressedBytes, 10)
	b = append(b, `,"decompressedLines":`...)
	b = strconv.AppendInt(b, s.DecompressedLines, 10)
	b = append(b, `,"headChunkBytes":`...)
	b = strconv.AppendInt(b, s.HeadBytes, 10)
	b = append(b, `,"headChunkLines":`...)
	b = strconv.AppendInt(b, s.HeadLines, 10)
	return append(b, `}}}}`...)
}

func appendSuccessStrings(b []byte, ss []string) []byte {
	if ss == nil {
		ss = []string{}
	}
	sort.Strings(ss)
	b = append(b, `{"status":"success","data":`...)
	b = appendStringArray(b, ss)
	return append(b, '}')
}
