package chunks

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"unsafe"

	"github.com/prometheus/prometheus/model/labels"
)

// Version 1 block payload (after decompression): entries sorted by
// timestamp, each
//
//	uvarint ts - previous ts (the first entry's predecessor is the block's MinT)
//	uvarint len(line), line
//	uvarint metadata pair count, then per pair: uvarint len(name), name, uvarint len(value), value
//
// Version 2 splits the same entries into an entry-columns frame and a
// lines frame, compressed separately (FORMAT.md, "Block payload"):
//
//	columns: uvarint ts_unit, uvarint ts_col_len, uvarint len_col_len,
//	         ts column (entries-1 uvarints: (ts - previous ts) / ts_unit),
//	         length column (entries uvarints), metadata column (raw metadata per entry)
//	lines:   every line, concatenated
//
// The metadata part ("raw metadata") is built once per entry at Append and
// copied verbatim into the block.

// appendMetadata appends the raw metadata encoding of ls to dst.
func appendMetadata(dst []byte, ls labels.Labels) []byte {
	dst = binary.AppendUvarint(dst, uint64(ls.Len()))
	ls.Range(func(l labels.Label) {
		dst = binary.AppendUvarint(dst, uint64(len(l.Name)))
		dst = append(dst, l.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(l.Value)))
		dst = append(dst, l.Value...)
	})
	return dst
}

// appendEntry appends one encoded entry to a block payload.
func appendEntry(dst []byte, delta uint64, line, rawMeta []byte) []byte {
	dst = binary.AppendUvarint(dst, delta)
	dst = binary.AppendUvarint(dst, uint64(len(line)))
	dst = append(dst, line...)
	return append(dst, rawMeta...)
}

// columnScratch holds the columns of one block while it is sealed.
type columnScratch struct{ ts, lens, meta []byte }

// appendColumns appends the version 2 entry-columns frame of the head's
// entries (sorted, non-empty) to dst, and the lines frame to lines
// (nothing if the head's lines are absent).
//
// Timestamp deltas are divided by their greatest common divisor, the
// block's ts_unit: timestamps with millisecond or microsecond precision,
// and steady emitters, then cost one or two bytes instead of four or
// five, and the codec cannot find that factor by itself.
func appendColumns(dst, lines []byte, h *headBlock, sc *columnScratch) (cols, linesOut []byte) {
	es := h.entries
	var unit uint64
	for i := 1; i < len(es) && unit != 1; i++ {
		unit = gcd(unit, uint64(es[i].ts)-uint64(es[i-1].ts))
	}
	if unit == 0 {
		unit = 1
	}
	ts, lens, meta := sc.ts[:0], sc.lens[:0], sc.meta[:0]
	for i, e := range es {
		if i > 0 {
			ts = binary.AppendUvarint(ts, (uint64(e.ts)-uint64(es[i-1].ts))/unit)
		}
		lens = binary.AppendUvarint(lens, uint64(e.lineLen))
		if h.linesAbsent {
			meta = append(meta, h.arena[e.off:e.off+e.metaLen]...)
			continue
		}
		end := e.off + e.lineLen
		meta = append(meta, h.arena[end:end+e.metaLen]...)
		lines = append(lines, h.arena[e.off:end]...)
	}
	dst = binary.AppendUvarint(dst, unit)
	dst = binary.AppendUvarint(dst, uint64(len(ts)))
	dst = binary.AppendUvarint(dst, uint64(len(lens)))
	dst = append(dst, ts...)
	dst = append(dst, lens...)
	dst = append(dst, meta...)
	sc.ts, sc.lens, sc.meta = ts, lens, meta
	return dst, lines
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// columns is a parsed version 2 entry-columns frame.
type columns struct {
	unit           uint64
	ts, lens, meta []byte
}

// parseColumns splits a decompressed entry-columns frame into its columns.
func parseColumns(b []byte) (columns, error) {
	var c columns
	unit, p, ok := uvarint(b, 0)
	if !ok || unit == 0 {
		return c, errors.New("bad timestamp unit")
	}
	tsLen, p, ok := uvarint(b, p)
	if !ok {
		return c, errors.New("truncated frame header")
	}
	lenLen, p, ok := uvarint(b, p)
	if !ok {
		return c, errors.New("truncated frame header")
	}
	if tsLen > uint64(len(b)-p) {
		return c, errors.New("timestamp column overruns the frame")
	}
	if lenLen > uint64(len(b)-p)-tsLen {
		return c, errors.New("length column overruns the frame")
	}
	t, l := p+int(tsLen), p+int(tsLen)+int(lenLen)
	c.unit, c.ts, c.lens, c.meta = unit, b[p:t:t], b[t:l:l], b[l:]
	return c, nil
}

// skipMetadata returns the position after the raw metadata at b[p:].
func skipMetadata(b []byte, p int) (int, bool) {
	if p < len(b) && b[p] == 0 {
		return p + 1, true
	}
	n, p, ok := uvarint(b, p)
	if !ok || n > uint64(len(b)-p)/2 {
		return 0, false
	}
	for range n {
		if _, p, ok = lenPrefixed(b, p); !ok {
			return 0, false
		}
		if _, p, ok = lenPrefixed(b, p); !ok {
			return 0, false
		}
	}
	return p, true
}

var errShort = errors.New("entry truncated")

// uvarint decodes a uvarint at b[p:], returning the value and the position
// after it; ok is false if b ends first or the value overflows.
func uvarint(b []byte, p int) (v uint64, next int, ok bool) {
	if p < len(b) && b[p] < 0x80 { // the common case: one byte
		return uint64(b[p]), p + 1, true
	}
	if p >= len(b) {
		return 0, p, false
	}
	v, n := binary.Uvarint(b[p:])
	if n <= 0 {
		return 0, p, false
	}
	return v, p + n, true
}

// lenPrefixed returns the bounds of a uvarint-length-prefixed string at b[p:].
func lenPrefixed(b []byte, p int) (start, end int, ok bool) {
	n, p, ok := uvarint(b, p)
	if !ok || n > uint64(len(b)-p) {
		return 0, 0, false
	}
	return p, p + int(n), true
}

// decodeEntry parses the entry at data[p:] following timestamp prev; the
// entry's timestamp must not exceed maxT.
func decodeEntry(data []byte, p int, prev, maxT int64) (ts int64, line, rawMeta []byte, next int, err error) {
	delta, p, ok := uvarint(data, p)
	if !ok {
		return 0, nil, nil, 0, errShort
	}
	if delta > uint64(maxT)-uint64(prev) { // exact: callers guarantee prev <= maxT
		return 0, nil, nil, 0, errors.New("timestamp beyond the block's max time")
	}
	line, rawMeta, next, err = decodeBody(data, p)
	return int64(uint64(prev) + delta), line, rawMeta, next, err
}

// decodeBody parses an entry's line and raw metadata at data[p:].
func decodeBody(data []byte, p int) (line, rawMeta []byte, next int, err error) {
	ls, le, ok := lenPrefixed(data, p)
	if !ok {
		return nil, nil, 0, errShort
	}
	n, p, ok := uvarint(data, le)
	if !ok || n > uint64(len(data)-p)/2 {
		return nil, nil, 0, errShort
	}
	for range n {
		if _, p, ok = lenPrefixed(data, p); !ok {
			return nil, nil, 0, errShort
		}
		if _, p, ok = lenPrefixed(data, p); !ok {
			return nil, nil, 0, errShort
		}
	}
	return data[ls:le:le], data[le:p:p], p, nil
}

// metaDecoder turns raw metadata into labels.Labels, reusing the previous
// result while consecutive entries carry identical metadata (the common
// case: a handful of distinct metadata sets per stream).
type metaDecoder struct {
	last []byte // copy of the raw bytes lbls was built from
	lbls labels.Labels
	sb   labels.ScratchBuilder
	init bool
}

func (d *metaDecoder) decode(raw []byte) labels.Labels {
	if len(raw) <= 1 { // count 0
		return labels.EmptyLabels()
	}
	if d.init && bytes.Equal(raw, d.last) {
		return d.lbls
	}
	if !d.init {
		d.sb = labels.NewScratchBuilder(4)
		d.sb.SetUnsafeAdd(true) // names and values alias a reused buffer
		d.init = true
	}
	d.sb.Reset()
	// raw was validated by decodeEntry.
	n, p, _ := uvarint(raw, 0)
	for range n {
		ns, ne, _ := lenPrefixed(raw, p)
		vs, ve, _ := lenPrefixed(raw, ne)
		d.sb.Add(yoloString(raw[ns:ne]), yoloString(raw[vs:ve]))
		p = ve
	}
	d.lbls = d.sb.Labels()
	d.last = append(d.last[:0], raw...)
	return d.lbls
}

func yoloString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// entryPos locates one entry's line and raw metadata inside a
// decompressed block: data[ls:le] and data[ms:me] in version 1, lines[ls:le]
// and the metadata column's [ms:me] in version 2.
type entryPos struct {
	ts             int64
	ls, le, ms, me int32
}

// blockCursor walks the entries of one decompressed block that fall in
// [from, through).
type blockCursor struct {
	idx           int // block number, for errors and tie-breaking
	meta          BlockMeta
	buf           *[]byte // pooled decompression buffer
	data          []byte
	from, through int64
	backward      bool

	// Version 2 blocks (meta.ColumnsLen > 0): the parsed columns, the lines
	// frame (nil when only the columns were decompressed: Line then stays
	// empty and only its length is known) and the read positions.
	v2             bool
	cols           columns
	lines          []byte
	pt, pl, pm, lo int
	lineLen        int  // length of the current entry's line
	hasMeta        bool // the current entry carries structured metadata

	pos  int      // forward: next entry's offset (version 1)
	prev int64    // forward: previous entry's timestamp
	seen int      // forward: entries decoded so far
	last entryPos // the entry step decoded last

	offs []entryPos // backward: in-range entries, forward order
	bi   int        // backward: next index into offs, counting down
	// backward, with sel: left[k] counts the entries left out before
	// offs[k], leftAll all of them, so that next counts them as it
	// passes them, as a forward cursor does.
	left    []leftCount
	leftAll leftCount

	// needles, when set, make a version 2 block select its entries: sel
	// is then true and keep[i] tells whether to yield entry i. Entries
	// left out in range are counted into stats as the cursor passes them. ends is scratch for the
	// lines' end offsets.
	needles *Needles
	stats   *Stats
	sel     bool
	keep    []bool
	ends    []uint32

	// pk, when packed is true, is the block's lines frame still packed:
	// lines then holds only the lines selectLines unpacked.
	pk     packedLines
	packed bool

	cur  Entry
	mdec metaDecoder
	fail error
}

// selectLines marks the entries whose lines hold c.needles (see
// Needles.markLines), searching the block's lines frame whole instead of
// leaving a search per line to the query's filters. It also keeps the
// block's last entry in iteration order (forward here; backward, reset
// keeps the first in range): a query reading streams lazily learns from
// it how far a stream has been read even where a block holds no match,
// as the needles only let a reader leave entries out, never require it.
// c.sel stays false, and every entry is yielded, when markLines judges
// the search not worth it, and when the length column does not add up to
// the lines frame: stepV2 then reports the corruption.
func (c *blockCursor) selectLines() error {
	c.sel = false
	if !c.lineEnds() {
		return c.unpackAll()
	}
	ends := c.ends
	if cap(c.keep) < len(ends) {
		c.keep = make([]bool, len(ends))
	}
	c.keep = c.keep[:len(ends)]
	if c.packed && c.needles.packed == nil {
		if err := c.unpackAll(); err != nil {
			return err
		}
	}
	if c.packed {
		if err := c.pk.index(len(c.lines)); err != nil {
			return blockErr(c.idx, "lines frame: %v", err)
		}
		if !c.needles.markPacked(&c.pk, c.lines, ends, c.keep) {
			return c.unpackAll()
		}
	} else if !c.needles.markLines(c.lines, ends, c.keep) {
		return nil
	}
	if !c.backward {
		last := len(ends) - 1
		c.keep[last] = true
		if c.packed {
			k := 0
			c.pk.unpack(c.lines, int(c.ends[last])-c.lineLenAt(last), int(c.ends[last]), &k)
		}
	}
	c.sel = true
	return nil
}

// lineEnds fills c.ends with the end offset of every line in c.lines, and
// reports false if the length column does not add up to the lines frame.
func (c *blockCursor) lineEnds() bool {
	ends := c.ends[:0]
	var off uint64
	p := 0
	lens := c.cols.lens
	for range c.meta.Entries {
		var n uint64
		// uvarint, inlined for a line's length under 1<<14.
		if p+1 < len(lens) && lens[p] < 0x80 {
			n, p = uint64(lens[p]), p+1
		} else if p+1 < len(lens) && lens[p+1] < 0x80 {
			n, p = uint64(lens[p]&0x7f)|uint64(lens[p+1])<<7, p+2
		} else {
			var ok bool
			if n, p, ok = uvarint(lens, p); !ok {
				return false
			}
		}
		if n > uint64(len(c.lines))-off {
			return false
		}
		off += n
		ends = append(ends, uint32(off))
	}
	c.ends = ends
	return off == uint64(len(c.lines)) && len(ends) > 0
}

// lineLenAt is the length of line i, by c.ends.
func (c *blockCursor) lineLenAt(i int) int {
	if i == 0 {
		return int(c.ends[0])
	}
	return int(c.ends[i] - c.ends[i-1])
}

// unpackAll unpacks every line of a packed block.
func (c *blockCursor) unpackAll() error {
	if !c.packed {
		return nil
	}
	c.packed = false
	if err := unpackHex(c.lines, c.pk.packed, c.pk.hex); err != nil {
		return blockErr(c.idx, "lines frame: %v", err)
	}
	return nil
}

// leaveOut counts the entry step just decoded as left out.
func (c *blockCursor) leaveOut() {
	c.stats.LinesLeftOut++
	c.stats.BytesLeftOut += int64(c.lineLen)
}

// reset starts a cursor over block idx's decompressed data. For a
// version 2 block, data is the columns frame and lines the lines frame
// (ignored unless withLines).
func (c *blockCursor) reset(idx int, m BlockMeta, data, lines []byte, from, through int64, backward, withLines bool) error {
	return c.resetPacked(idx, m, data, lines, nil, nil, from, through, backward, withLines)
}

// resetPacked is reset for a block whose lines frame may still be packed
// (hex not empty: see Encoding.loadBlockLazy); the cursor then needs
// needles, and unpacks the lines it yields.
func (c *blockCursor) resetPacked(idx int, m BlockMeta, data, lines, packed, hex []byte, from, through int64, backward, withLines bool) error {
	c.idx, c.meta, c.data, c.from, c.through, c.backward = idx, m, data, from, through, backward
	c.pos, c.prev, c.seen, c.fail = 0, m.MinT, 0, nil
	c.cur = Entry{}
	c.v2 = m.ColumnsLen > 0
	if c.v2 {
		var err error
		if c.cols, err = parseColumns(data); err != nil {
			return blockErr(idx, "columns: %v", err)
		}
		c.lines = nil
		if withLines {
			c.lines = lines
			if c.lines == nil {
				c.lines = []byte{}
			}
		}
		c.pt, c.pl, c.pm, c.lo = 0, 0, 0, 0
	}
	c.sel = false
	c.pk.packed, c.pk.hex, c.packed = packed, hex, len(hex) > 0 && c.v2 && c.lines != nil
	if c.needles != nil && c.v2 && c.lines != nil {
		if err := c.selectLines(); err != nil {
			return err
		}
	} else if err := c.unpackAll(); err != nil {
		return err
	}
	if !backward {
		return nil
	}
	// Backward: index the in-range entries, then walk them in reverse.
	c.offs, c.left, c.leftAll = c.offs[:0], c.left[:0], leftCount{}
	for {
		ts, ok := c.step()
		if !ok {
			break
		}
		if ts >= through {
			break
		}
		if ts >= from {
			if c.sel && !c.keep[c.seen-1] && len(c.offs) > 0 {
				c.leftAll.lines++
				c.leftAll.bytes += int64(c.lineLen)
				continue
			}
			c.offs = append(c.offs, c.last)
			if c.sel {
				c.left = append(c.left, c.leftAll)
			}
		}
	}
	c.bi = len(c.offs)
	if c.packed && len(c.offs) > 0 {
		// The first entry in range, yielded last, was kept whether or not
		// its line holds the needles.
		k := 0
		c.pk.unpack(c.lines, int(c.offs[0].ls), int(c.offs[0].le), &k)
	}
	return c.fail
}

// leftCount counts entries left out and their line bytes.
type leftCount struct {
	lines, bytes int64
}

// stepV2 is step for a version 2 block: one value from each column.
func (c *blockCursor) stepV2() (int64, bool) {
	if c.seen == c.meta.Entries {
		switch {
		case c.pt != len(c.cols.ts) || c.pl != len(c.cols.lens) || c.pm != len(c.cols.meta):
			c.fail = blockErr(c.idx, "columns hold more than the %d entries the index says", c.meta.Entries)
		case int64(c.lo) != c.meta.LineBytes:
			c.fail = blockErr(c.idx, "lines hold %d bytes, index says %d", c.lo, c.meta.LineBytes)
		case c.prev != c.meta.MaxT:
			c.fail = blockErr(c.idx, "last timestamp %d, index says %d", c.prev, c.meta.MaxT)
		}
		return 0, false
	}
	ts := c.prev
	if c.seen > 0 {
		d, p, ok := uvarint(c.cols.ts, c.pt)
		if !ok {
			c.fail = blockErr(c.idx, "timestamp column ends at entry %d of %d", c.seen, c.meta.Entries)
			return 0, false
		}
		if d > (uint64(c.meta.MaxT)-uint64(c.prev))/c.cols.unit {
			c.fail = blockErr(c.idx, "entry %d: timestamp beyond the block's max time", c.seen)
			return 0, false
		}
		ts, c.pt = int64(uint64(c.prev)+d*c.cols.unit), p
	}
	// uvarint and skipMetadata, inlined for the usual entry: a line
	// shorter than 1<<14 bytes, no metadata.
	var n uint64
	p, ok := c.pl, true
	if lens := c.cols.lens; p+1 < len(lens) && lens[p] < 0x80 {
		n, p = uint64(lens[p]), p+1
	} else if p+1 < len(lens) && lens[p+1] < 0x80 {
		n, p = uint64(lens[p]&0x7f)|uint64(lens[p+1])<<7, p+2
	} else {
		n, p, ok = uvarint(lens, p)
	}
	if !ok || n > uint64(c.meta.LineBytes)-uint64(c.lo) {
		c.fail = blockErr(c.idx, "entry %d: line length overruns the lines frame", c.seen)
		return 0, false
	}
	c.pl = p
	ms := c.pm
	me := ms + 1
	if ms >= len(c.cols.meta) || c.cols.meta[ms] != 0 {
		if me, ok = skipMetadata(c.cols.meta, ms); !ok {
			c.fail = blockErr(c.idx, "entry %d: metadata truncated", c.seen)
			return 0, false
		}
	}
	c.pm = me
	ls, le := c.lo, c.lo+int(n)
	c.lo = le
	c.seen++
	c.prev = ts
	c.lineLen, c.hasMeta = int(n), me-ms > 1
	if c.backward { // a backward cursor only indexes here; next yields
		c.last = entryPos{ts: ts, ls: int32(ls), le: int32(le), ms: int32(ms), me: int32(me)}
		return ts, true
	}
	c.cur.Timestamp = ts
	if c.lines != nil {
		c.cur.Line = c.lines[ls:le:le]
	} else {
		c.cur.Line = nil
	}
	if c.hasMeta {
		c.cur.Metadata = c.mdec.decode(c.cols.meta[ms:me])
	} else {
		c.cur.Metadata = labels.EmptyLabels()
	}
	return ts, true
}

// step decodes the next entry going forward (setting c.cur unless the
// cursor runs backward), validating the block's structure as it goes.
func (c *blockCursor) step() (int64, bool) {
	if c.v2 {
		return c.stepV2()
	}
	if c.pos >= len(c.data) {
		if c.seen != c.meta.Entries {
			c.fail = blockErr(c.idx, "holds %d entries, index says %d", c.seen, c.meta.Entries)
		} else if c.prev != c.meta.MaxT {
			c.fail = blockErr(c.idx, "last timestamp %d, index says %d", c.prev, c.meta.MaxT)
		}
		return 0, false
	}
	var (
		ts        int64
		line, raw []byte
		next      int
	)
	// Fast path for the common shape: a line length of one or two bytes
	// and no metadata. Anything else takes the general decoder.
	d, p := c.data, c.pos
	var delta uint64
	if b := d[p]; b < 0x80 {
		delta, p = uint64(b), p+1
	} else {
		// Up to 8 bytes (56 bits) here; longer deltas take the slow path.
		q, shift := p, uint(0)
		for p = -1; q < len(d) && shift < 56; shift += 7 {
			b := d[q]
			q++
			delta |= uint64(b&0x7f) << shift
			if b < 0x80 {
				p = q
				break
			}
		}
	}
	if p >= 0 && p+2 < len(d) && delta <= uint64(c.meta.MaxT)-uint64(c.prev) {
		n := uint64(d[p])
		if n < 0x80 {
			p++
		} else if d[p+1] < 0x80 {
			n, p = n&0x7f|uint64(d[p+1])<<7, p+2
		} else {
			n = math.MaxUint64
		}
		if n < uint64(len(d)-p) && d[p+int(n)] == 0 {
			ts = int64(uint64(c.prev) + delta)
			e := p + int(n)
			line, raw, next = d[p:e:e], d[e:e+1:e+1], e+1
		} else {
			p = -1
		}
	} else {
		p = -1
	}
	if p < 0 {
		var err error
		ts, line, raw, next, err = decodeEntry(c.data, c.pos, c.prev, c.meta.MaxT)
		if err != nil {
			c.fail = blockErr(c.idx, "entry %d at byte %d: %v", c.seen, c.pos, err)
			return 0, false
		}
	}
	c.seen++
	if c.seen > c.meta.Entries {
		c.fail = blockErr(c.idx, "more than the %d entries the index says", c.meta.Entries)
		return 0, false
	}
	c.pos, c.prev = next, ts
	c.lineLen, c.hasMeta = len(line), len(raw) > 1
	if c.backward { // a backward cursor only indexes here; next yields
		end := int32(next)
		le := end - int32(len(raw))
		c.last = entryPos{ts: ts, ls: le - int32(len(line)), le: le, ms: le, me: end}
	} else {
		c.cur.Timestamp, c.cur.Line = ts, line
		if len(raw) > 1 {
			c.cur.Metadata = c.mdec.decode(raw)
		} else {
			c.cur.Metadata = labels.EmptyLabels()
		}
	}
	return ts, true
}

func (c *blockCursor) next() bool {
	if c.fail != nil {
		return false
	}
	if c.backward {
		if c.bi == 0 {
			return false
		}
		c.bi--
		if c.sel {
			after := c.leftAll
			if c.bi+1 < len(c.offs) {
				after = c.left[c.bi+1]
			}
			c.stats.LinesLeftOut += after.lines - c.left[c.bi].lines
			c.stats.BytesLeftOut += after.bytes - c.left[c.bi].bytes
		}
		o := c.offs[c.bi]
		c.cur.Timestamp = o.ts
		data, meta := c.data, c.data
		if c.v2 {
			data, meta = c.lines, c.cols.meta
		}
		c.cur.Line = nil
		if data != nil {
			c.cur.Line = data[o.ls:o.le:o.le]
		}
		if o.me-o.ms > 1 {
			c.cur.Metadata = c.mdec.decode(meta[o.ms:o.me])
		} else {
			c.cur.Metadata = labels.EmptyLabels()
		}
		return true
	}
	for {
		ts, ok := c.step()
		if !ok || ts >= c.through {
			return false
		}
		if ts >= c.from {
			if c.sel && !c.keep[c.seen-1] {
				c.leaveOut()
				continue
			}
			return true
		}
	}
}

func (c *blockCursor) entry() *Entry { return &c.cur }
func (c *blockCursor) err() error    { return c.fail }
