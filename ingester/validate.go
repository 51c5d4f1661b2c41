package ingester

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// Reasons an entry is refused; they label plg_ingester_rejected_entries_total.
const (
	reasonInvalidLabels    = "invalid_labels"
	reasonMissingLabels    = "missing_labels"
	reasonTooManyLabels    = "max_label_names_per_series"
	reasonLabelNameLong    = "label_name_too_long"
	reasonLabelValueLong   = "label_value_too_long"
	reasonLineTooLong      = "line_too_long"
	reasonTooOld           = "too_old"
	reasonTooNew           = "too_far_in_future"
	reasonTooFarBehind     = "too_far_behind"
	reasonRateLimited      = "rate_limited"
	reasonStreamLimit      = "stream_limit"
	reasonMetadataTooLarge = "structured_metadata_too_large"
)

// validateLabels checks a parsed stream label set against Prometheus' naming
// rules and the tenant's limits. The returned reason is empty when valid.
func validateLabels(lbs labels.Labels, l *Limits) (reason, msg string) {
	if lbs.Len() == 0 {
		return reasonMissingLabels, "a stream needs at least one label"
	}
	if l.MaxLabelNamesPerSeries > 0 && lbs.Len() > l.MaxLabelNamesPerSeries {
		return reasonTooManyLabels, fmt.Sprintf("%d label names, limit %d", lbs.Len(), l.MaxLabelNamesPerSeries)
	}
	lbs.Range(func(lb labels.Label) {
		if reason != "" {
			return
		}
		switch {
		case !validLabelName(lb.Name):
			reason, msg = reasonInvalidLabels, fmt.Sprintf("invalid label name %q: must match [a-zA-Z_][a-zA-Z0-9_]*", lb.Name)
		case strings.HasPrefix(lb.Name, "__"):
			reason, msg = reasonInvalidLabels, fmt.Sprintf("label name %q is reserved: names starting with __ are internal", lb.Name)
		case l.MaxLabelNameLength > 0 && len(lb.Name) > l.MaxLabelNameLength:
			reason, msg = reasonLabelNameLong, fmt.Sprintf("label name %.40q... is %d bytes, limit %d", lb.Name, len(lb.Name), l.MaxLabelNameLength)
		case l.MaxLabelValueLength > 0 && len(lb.Value) > l.MaxLabelValueLength:
			reason, msg = reasonLabelValueLong, fmt.Sprintf("value of label %q is %d bytes, limit %d", lb.Name, len(lb.Value), l.MaxLabelValueLength)
		case lb.Value == "":
			reason, msg = reasonInvalidLabels, fmt.Sprintf("label %q has an empty value", lb.Name)
		case !utf8.ValidString(lb.Value):
			reason, msg = reasonInvalidLabels, fmt.Sprintf("value of label %q is not valid UTF-8", lb.Name)
		}
	})
	return reason, msg
}

// serviceNameLabel is the label Loki adds to every stream that lacks it.
const serviceNameLabel = "service_name"

// unknownService is service_name's value when no listed label is present.
const unknownService = "unknown_service"

// withServiceName returns lbs with a service_name label taken from the
// first label of from that lbs has, or unknown_service, unless lbs already
// has one or from is empty. It runs once per new stream, after validation,
// so the label does not count against max_label_names_per_series.
func withServiceName(lbs labels.Labels, from []string) labels.Labels {
	if len(from) == 0 || lbs.Has(serviceNameLabel) {
		return lbs
	}
	value := unknownService
	for _, name := range from {
		if v := lbs.Get(name); v != "" {
			value = v
			break
		}
	}
	b := labels.NewBuilder(lbs)
	b.Set(serviceNameLabel, value)
	return b.Labels()
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (i > 0 && c >= '0' && c <= '9') {
			continue
		}
		return false
	}
	return true
}

// entryVerdict checks one entry's size, metadata and age. It returns an empty
// reason when the entry may be appended; the line may come back truncated.
func entryVerdict(ts int64, line []byte, metadata labels.Labels, l *Limits, now time.Time) (out []byte, reason, msg string) {
	if l.MaxLineSize > 0 && len(line) > l.MaxLineSize {
		if !l.MaxLineSizeTruncate {
			return nil, reasonLineTooLong, fmt.Sprintf("line of %d bytes, limit %d", len(line), l.MaxLineSize)
		}
		line = line[:l.MaxLineSize]
	}
	if l.RejectOldSamples && ts < now.Add(-l.RejectOldSamplesMaxAge).UnixNano() {
		return nil, reasonTooOld, fmt.Sprintf("timestamp %s is older than the %s reject-old window",
			formatTS(ts), l.RejectOldSamplesMaxAge)
	}
	if l.CreationGracePeriod > 0 && ts > now.Add(l.CreationGracePeriod).UnixNano() {
		return nil, reasonTooNew, fmt.Sprintf("timestamp %s is more than %s in the future", formatTS(ts), l.CreationGracePeriod)
	}
	if metadata.Len() > 0 {
		if l.MaxStructuredMetadataEntries > 0 && metadata.Len() > l.MaxStructuredMetadataEntries {
			return nil, reasonMetadataTooLarge, fmt.Sprintf("%d structured metadata entries, limit %d", metadata.Len(), l.MaxStructuredMetadataEntries)
		}
		if l.MaxStructuredMetadataSize > 0 {
			size := 0
			metadata.Range(func(lb labels.Label) { size += len(lb.Name) + len(lb.Value) })
			if size > l.MaxStructuredMetadataSize {
				return nil, reasonMetadataTooLarge, fmt.Sprintf("structured metadata of %d bytes, limit %d", size, l.MaxStructuredMetadataSize)
			}
		}
	}
	return line, "", ""
}

func formatTS(ns int64) string {
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// pushReport collects what a push refused, grouped by stream and reason, so
// the response says what was wrong, where, and how much, without growing
// with the size of the request.
type pushReport struct {
	total    int
	rejected int
	groups   []rejectGroup
	index    map[rejectKey]int
}

type rejectKey struct{ stream, reason string }

type rejectGroup struct {
	rejectKey
	count   int
	example string
}

const maxReportGroups = 20

func (r *pushReport) reject(stream, reason, msg string, n int) {
	r.rejected += n
	k := rejectKey{stream, reason}
	if i, ok := r.index[k]; ok {
		r.groups[i].count += n
		return
	}
	if r.index == nil {
		r.index = make(map[rejectKey]int)
	}
	r.index[k] = len(r.groups)
	r.groups = append(r.groups, rejectGroup{rejectKey: k, count: n, example: msg})
}

func (r *pushReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d entries rejected, %d accepted\n", r.rejected, r.total, r.total-r.rejected)
	for i, g := range r.groups {
		if i == maxReportGroups {
			fmt.Fprintf(&b, "... and %d more streams or reasons\n", len(r.groups)-i)
			break
		}
		noun := "entries"
		if g.count == 1 {
			noun = "entry"
		}
		fmt.Fprintf(&b, "stream %s: %d %s rejected (%s): %s\n", g.stream, g.count, noun, g.reason, g.example)
	}
	return b.String()
}
