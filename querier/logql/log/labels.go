package log

import (
	"bytes"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/cespare/xxhash/v2"
	"github.com/prometheus/prometheus/model/labels"
)

// Names of the labels stages use to report failures, and the values of
// __error__ they set, as Loki does.
const (
	ErrorLabel        = "__error__"
	ErrorDetailsLabel = "__error_details__"

	ErrJSON             = "JSONParserErr"
	ErrLogfmt           = "LogfmtParserErr"
	ErrSampleExtraction = "SampleExtractionErr"
	ErrLabelFilter      = "LabelFilterErr"
	ErrTemplateFormat   = "TemplateFormatErr"

	// duplicateSuffix is appended to a parsed label whose name collides
	// with a stream label.
	duplicateSuffix = "_extracted"

	// maxCachedResults bounds a pipeline's cache of final label sets; the
	// cache is dropped and rebuilt when it fills.
	maxCachedResults = 4096
)

type entry struct {
	name, value string
	gen         uint32 // parser run that set it; 0 for non-parser sets
}

// LabelsBuilder holds the labels of the line being processed: the stream's
// labels (fixed per stream), the entry's structured metadata, and the labels
// stages added, replaced or deleted. A StreamPipeline owns one and resets it
// for every line; strings handed out by Get are valid until the next Reset.
type LabelsBuilder struct {
	stream   labels.Labels
	metadata labels.Labels

	add     []entry
	addMask uint64 // see nameBit
	del     []string

	err, errDetails string

	gen   uint32
	arena []byte

	// parsedNames maps a sanitized parsed key to the label name it gets in
	// this stream (with _extracted when it collides with a stream label).
	parsedNames map[string]string

	scratch []labels.Label
	merge   []labels.Label
	out     []labels.Label

	streamSlice []labels.Label // the stream labels, decoded once
	metaSlice   []labels.Label
	grouped     []labels.Label // GroupedLabels' by-grouping scratch

	// order of add by name for the last seen sequence of added names
	perm      []int
	permNames []string
	key       []byte

	streamHash   uint64
	streamHashed bool
	cache        *resultCache
}

// NewLabelsBuilder returns a builder for lines of the stream with the given
// labels.
func NewLabelsBuilder(stream labels.Labels) *LabelsBuilder {
	return newLabelsBuilder(stream, newResultCache())
}

func newLabelsBuilder(stream labels.Labels, cache *resultCache) *LabelsBuilder {
	return &LabelsBuilder{
		stream:      stream,
		parsedNames: make(map[string]string),
		cache:       cache,
	}
}

// resultCache maps the hash of a final label set to its labels.Labels, so
// that lines producing the same labels share one value. It is shared by the
// streams of a Pipeline and bounded; when label sets rarely repeat (a parsed
// request id), it stops inserting so that misses cost no extra copy.
type resultCache struct {
	m            map[uint64]cachedLabels
	hits, misses int
}

type cachedLabels struct {
	key    []byte // the labels as hashed
	labels labels.Labels
}

func newResultCache() *resultCache {
	return &resultCache{m: make(map[uint64]cachedLabels)}
}

func (c *resultCache) get(h uint64, key []byte) (labels.Labels, bool) {
	if e, ok := c.m[h]; ok && bytes.Equal(e.key, key) {
		c.hits++
		return e.labels, true
	}
	c.misses++
	return labels.EmptyLabels(), false
}

func (c *resultCache) put(h uint64, key []byte, ls labels.Labels) {
	if c.hits+c.misses > 1<<13 {
		c.hits, c.misses = c.hits/2, c.misses/2
	}
	if c.misses > 64 && c.hits*4 < c.misses && c.misses%16 != 0 {
		// Mostly unique label sets: caching would only cost. Every 16th
		// miss is still cached so that sets that start repeating get in.
		return
	}
	if len(c.m) >= maxCachedResults {
		clear(c.m)
	}
	c.m[h] = cachedLabels{key: bytes.Clone(key), labels: ls}
}

// Reset prepares the builder for a new line carrying the given structured
// metadata.
func (b *LabelsBuilder) Reset(metadata labels.Labels) {
	b.metadata = metadata
	b.add = b.add[:0]
	b.addMask = 0
	b.del = b.del[:0]
	b.err, b.errDetails = "", ""
	b.arena = b.arena[:0]
}

// StreamLabels returns the labels of the stream this builder serves.
func (b *LabelsBuilder) StreamLabels() labels.Labels { return b.stream }

// ParsedName returns the name a label extracted by a parser gets: name
// itself, or name+"_extracted" when the stream already has a label name.
func (b *LabelsBuilder) ParsedName(name string) string {
	if n, ok := b.parsedNames[name]; ok {
		return n
	}
	name = strings.Clone(name)
	n := name
	if b.stream.Has(name) {
		n = name + duplicateSuffix
	}
	if len(b.parsedNames) > maxCachedResults {
		clear(b.parsedNames)
	}
	b.parsedNames[name] = n
	return n
}

// parsedNameBytes is ParsedName for a name held in a scratch buffer; it
// avoids allocating once the name has been seen.
func (b *LabelsBuilder) parsedNameBytes(name []byte) string {
	if n, ok := b.parsedNames[string(name)]; ok {
		return n
	}
	return b.ParsedName(string(name))
}

// HasErr reports whether a stage has set __error__ on this line.
func (b *LabelsBuilder) HasErr() bool { return b.err != "" }

// GetErr returns the current __error__ value.
func (b *LabelsBuilder) GetErr() string { return b.err }

// SetErr sets __error__.
func (b *LabelsBuilder) SetErr(e string) { b.err = e }

// SetErrorDetails sets __error_details__ unless an earlier stage already
// described its error.
func (b *LabelsBuilder) SetErrorDetails(d string) {
	if b.errDetails == "" {
		b.errDetails = d
	}
}

func (b *LabelsBuilder) setError(e string, details string) {
	b.SetErr(e)
	b.SetErrorDetails(details)
}

// Get returns the current value of a label and whether it is present.
func (b *LabelsBuilder) Get(name string) (string, bool) {
	switch name {
	case ErrorLabel:
		return b.err, b.err != ""
	case ErrorDetailsLabel:
		return b.errDetails, b.errDetails != ""
	}
	for i := range b.add {
		if b.add[i].name == name {
			return b.add[i].value, true
		}
	}
	for _, d := range b.del {
		if d == name {
			return "", false
		}
	}
	if v := b.metadata.Get(name); v != "" {
		return v, true
	}
	if v := b.stream.Get(name); v != "" {
		return v, true
	}
	return "", false
}

// Set sets a label, replacing any stream, metadata or parsed value. The
// name must not be a view of a reusable buffer (names are kept across
// lines); the value only needs to stay valid until the next line.
func (b *LabelsBuilder) Set(name, value string) {
	b.set(name, value, 0)
}

// SetBytes is Set for a value in a buffer the caller will reuse: the value
// is copied into the builder's per-line arena.
func (b *LabelsBuilder) SetBytes(name string, value []byte) {
	b.set(name, b.intern(value), 0)
}

// view returns v as a string without copying. Stages use it for values
// inside the line being processed: a line's bytes (the caller's, or a
// stage's output buffer) do not change until the next line, and final label
// sets are copied before they are cached.
func (b *LabelsBuilder) view(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	return unsafe.String(&v[0], len(v))
}

// viewValidUTF8 is view for values that may hold invalid UTF-8, which is
// dropped (copying only then).
func (b *LabelsBuilder) viewValidUTF8(v []byte) string {
	if utf8.Valid(v) {
		return b.view(v)
	}
	return b.internValidUTF8(v)
}

func (b *LabelsBuilder) intern(v []byte) string {
	if len(v) == 0 {
		return ""
	}
	start := len(b.arena)
	b.arena = append(b.arena, v...)
	return unsafe.String(&b.arena[start], len(v))
}

// newParserRun starts a parser run: within one run the first value set for
// a name wins over later duplicates, as in Loki.
func (b *LabelsBuilder) newParserRun() { b.gen++ }

// setParsed sets a label found by the current parser run unless the run
// already set it, and reports whether it did.
func (b *LabelsBuilder) setParsed(name, value string) bool {
	bit := nameBit(name)
	if b.addMask&bit == 0 && len(b.del) == 0 && name != ErrorLabel && name != ErrorDetailsLabel {
		b.addMask |= bit
		b.add = append(b.add, entry{name: name, value: value, gen: b.gen})
		return true
	}
	for i := range b.add {
		e := &b.add[i]
		if e.name == name {
			if e.gen == b.gen {
				return false
			}
			e.value, e.gen = value, b.gen
			return true
		}
	}
	if len(b.del) > 0 || name == ErrorLabel || name == ErrorDetailsLabel {
		b.set(name, value, b.gen)
		return true
	}
	b.addMask |= bit
	b.add = append(b.add, entry{name: name, value: value, gen: b.gen})
	return true
}

// nameBit maps a name to one bit of LabelsBuilder.addMask, a one-word
// Bloom filter of the names in add: a clear bit proves a name is absent
// without scanning add.
func nameBit(name string) uint64 {
	n := len(name)
	h := uint64(n)
	if n > 0 {
		h |= uint64(name[0])<<8 | uint64(name[n-1])<<16 | uint64(name[n/2])<<24
	}
	h *= 0x9E3779B97F4A7C15
	return 1 << (h >> 58)
}

func (b *LabelsBuilder) set(name, value string, gen uint32) {
	switch name {
	case ErrorLabel:
		b.err = value
		return
	case ErrorDetailsLabel:
		b.errDetails = value
		return
	}
	for i, d := range b.del {
		if d == name {
			b.del = append(b.del[:i], b.del[i+1:]...)
			break
		}
	}
	for i := range b.add {
		if b.add[i].name == name {
			b.add[i].value = value
			b.add[i].gen = gen
			return
		}
	}
	b.addMask |= nameBit(name)
	b.add = append(b.add, entry{name: name, value: value, gen: gen})
}

// Del removes labels, whatever their origin.
func (b *LabelsBuilder) Del(names ...string) {
	for _, name := range names {
		b.del1(name)
	}
}

func (b *LabelsBuilder) del1(name string) {
	switch name {
	case ErrorLabel:
		b.err = ""
		return
	case ErrorDetailsLabel:
		b.errDetails = ""
		return
	}
	for i := range b.add {
		if b.add[i].name == name {
			b.add = append(b.add[:i], b.add[i+1:]...)
			break
		}
	}
	if slices.Contains(b.del, name) {
		return
	}
	if b.stream.Has(name) || b.metadata.Has(name) {
		b.del = append(b.del, name)
	}
}

// current returns the line's labels sorted by name, including __error__ and
// __error_details__ when set. Precedence on equal names: added > metadata >
// stream. The slice is valid until the next call.
func (b *LabelsBuilder) current() []labels.Label {
	adds := b.sortedAdds(b.scratch[:0])
	if b.err != "" || b.errDetails != "" {
		if b.err != "" {
			adds = append(adds, labels.Label{Name: ErrorLabel, Value: b.err})
		}
		if b.errDetails != "" {
			adds = append(adds, labels.Label{Name: ErrorDetailsLabel, Value: b.errDetails})
		}
		sortLabels(adds)
	}
	meta := b.metaSlice[:0]
	b.metadata.Range(func(l labels.Label) { meta = append(meta, l) })
	b.metaSlice = meta
	if b.streamSlice == nil {
		b.streamSlice = make([]labels.Label, 0, b.stream.Len())
		b.stream.Range(func(l labels.Label) { b.streamSlice = append(b.streamSlice, l) })
	}
	// Merge the three sorted runs; on equal names the earlier run wins.
	out := b.merge[:0]
	x, y, z := adds, meta, b.streamSlice
	for len(x)+len(y)+len(z) > 0 {
		var name string
		switch {
		case len(x) > 0:
			name = x[0].Name
			if len(y) > 0 && y[0].Name < name {
				name = y[0].Name
			}
			if len(z) > 0 && z[0].Name < name {
				name = z[0].Name
			}
		case len(y) > 0:
			name = y[0].Name
			if len(z) > 0 && z[0].Name < name {
				name = z[0].Name
			}
		default:
			name = z[0].Name
		}
		var l labels.Label
		added := false
		if len(x) > 0 && x[0].Name == name {
			l, added = x[0], true
			x = x[1:]
		}
		if len(y) > 0 && y[0].Name == name {
			if !added {
				l = y[0]
			}
			y = y[1:]
		} else if !added {
			l = z[0]
		}
		if len(z) > 0 && z[0].Name == name {
			z = z[1:]
		}
		if added || len(b.del) == 0 || !slices.Contains(b.del, name) {
			out = append(out, l)
		}
	}
	b.merge, b.scratch = adds[:0], out
	return out
}

// sortedAdds appends the added labels to s sorted by name. Lines of a
// stream usually add the same names in the same order, so the order found
// for the previous line is reused when the names are the very same strings.
func (b *LabelsBuilder) sortedAdds(s []labels.Label) []labels.Label {
	same := len(b.add) == len(b.permNames)
	for i := 0; same && i < len(b.add); i++ {
		n, p := b.add[i].name, b.permNames[i]
		same = len(n) == len(p) && unsafe.StringData(n) == unsafe.StringData(p)
	}
	if !same {
		b.perm, b.permNames = b.perm[:0], b.permNames[:0]
		for i := range b.add {
			b.perm = append(b.perm, i)
			b.permNames = append(b.permNames, b.add[i].name)
		}
		p := b.perm
		for i := 1; i < len(p); i++ {
			for j := i; j > 0 && b.add[p[j]].name < b.add[p[j-1]].name; j-- {
				p[j], p[j-1] = p[j-1], p[j]
			}
		}
	}
	for _, k := range b.perm {
		e := &b.add[k]
		s = append(s, labels.Label{Name: e.name, Value: e.value})
	}
	return s
}

// sortLabels is an insertion sort: label sets are small and mostly sorted,
// and it does not allocate.
func sortLabels(s []labels.Label) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Name < s[j-1].Name; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// Labels returns the final labels of the line and their hash. Identical
// label sets of one stream share one labels.Labels value, so in steady state
// this does not allocate.
func (b *LabelsBuilder) Labels() (labels.Labels, uint64) {
	if len(b.add) == 0 && len(b.del) == 0 && b.err == "" && b.errDetails == "" && b.metadata.IsEmpty() {
		if !b.streamHashed {
			b.streamHash, b.streamHashed = HashLabels(b.stream), true
		}
		return b.stream, b.streamHash
	}
	return b.result(b.current())
}

// GroupedLabels returns the line's labels reduced to groups (or stripped of
// them when without is set), as metric queries group samples. Lines with an
// error keep all their labels so that the error is not lost.
func (b *LabelsBuilder) GroupedLabels(groups []string, without bool) (labels.Labels, uint64) {
	if !without && b.err == "" && b.errDetails == "" && strictlySorted(groups) {
		// A by grouping names few labels: look each up rather than merge
		// every stream, metadata and parsed label into one sorted set.
		g := b.grouped[:0]
		for _, name := range groups {
			if v, ok := b.Get(name); ok {
				g = append(g, labels.Label{Name: name, Value: v})
			}
		}
		b.grouped = g
		return b.result(g)
	}
	s := b.current()
	if b.err != "" {
		return b.result(s)
	}
	n := 0
	for _, l := range s {
		if slices.Contains(groups, l.Name) != without {
			s[n] = l
			n++
		}
	}
	return b.result(s[:n])
}

func strictlySorted(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] <= s[i-1] {
			return false
		}
	}
	return true
}

func (b *LabelsBuilder) result(s []labels.Label) (labels.Labels, uint64) {
	key := b.key[:0]
	for _, l := range s {
		key = append(key, l.Name...)
		key = append(key, 0xff)
		key = append(key, l.Value...)
		key = append(key, 0xff)
	}
	b.key = key
	h := xxhash.Sum64(key)
	if ls, ok := b.cache.get(h, key); ok {
		return ls, h
	}
	// Names are stable strings (stream/metadata labels, interned parsed
	// names, constants); values may point into the line, so they are
	// copied, all into one string.
	n := 0
	for _, l := range s {
		n += len(l.Value)
	}
	var sb strings.Builder
	sb.Grow(n)
	for _, l := range s {
		sb.WriteString(l.Value)
	}
	vals := sb.String()
	out := b.out[:0]
	off := 0
	for _, l := range s {
		out = append(out, labels.Label{Name: l.Name, Value: vals[off : off+len(l.Value)]})
		off += len(l.Value)
	}
	b.out = out
	ls := labels.New(out...)
	b.cache.put(h, key, ls)
	return ls, h
}

// HashLabels returns the hash StreamPipeline.Process reports for ls: xxhash
// of name 0xff value 0xff for each label in order.
func HashLabels(ls labels.Labels) uint64 {
	var d xxhash.Digest
	d.Reset()
	sep := [1]byte{0xff}
	ls.Range(func(l labels.Label) {
		_, _ = d.WriteString(l.Name)
		_, _ = d.Write(sep[:])
		_, _ = d.WriteString(l.Value)
		_, _ = d.Write(sep[:])
	})
	return d.Sum64()
}

// internTail returns the arena bytes appended since start as a string.
func (b *LabelsBuilder) internTail(start int) string {
	if len(b.arena) == start {
		return ""
	}
	return unsafe.String(&b.arena[start], len(b.arena)-start)
}

// internValidUTF8 is intern for values that may hold invalid UTF-8, which
// is dropped (Prometheus rejects it).
func (b *LabelsBuilder) internValidUTF8(v []byte) string {
	if utf8.Valid(v) {
		return b.intern(v)
	}
	start := len(b.arena)
	for i := 0; i < len(v); {
		r, n := utf8.DecodeRune(v[i:])
		if r != utf8.RuneError || n > 1 {
			b.arena = append(b.arena, v[i:i+n]...)
		}
		i += n
	}
	return b.internTail(start)
}
