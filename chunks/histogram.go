package chunks

import (
	"encoding/binary"
	"slices"
)

// A block's time histogram (filter kind 3 in FORMAT.md) holds its entry
// counts and line bytes per aligned time bucket. count_over_time and
// bytes_over_time over a grid of cells that the buckets do not straddle
// (a step and range that are multiples of the bucket width, with the
// grid aligned to it, as Grafana's are) are then answered from the
// filter section, which a reader gets with the index in its first
// ranged read, without decompressing the block: a zstd frame costs a
// few microseconds to set up (Huffman and FSE tables) before it yields
// a byte, and a walk of the columns a few nanoseconds per entry.

const (
	filterKindHist = 3
	// histEntriesPerBucket bounds the histogram's size: a width is used
	// only if the block has at least this many entries per non-empty
	// bucket, so a histogram costs under a byte per entry (about 0.5% of
	// the raw text of 200-byte lines) and folding it is several times
	// cheaper than walking the columns.
	histEntriesPerBucket = 8
	// histMaxWidthSeconds bounds a width a reader accepts, so the width in
	// nanoseconds fits an int64 with room to spare.
	histMaxWidthSeconds = 1 << 32
)

// histWidths are the bucket widths, in seconds, a writer picks from,
// smallest first. Each divides the usual query steps and ranges (1s to
// 1h; 10s and 30s are split in 5s and 15s buckets), so a grid aligned to
// its step usually meets bucket boundaries.
var histWidths = [...]uint64{1, 5, 15, 60, 300, 900, 3600}

// histKey is the bucket of ts for a width of w ns: ⌈ts/w⌉. Bucket k
// holds (k·w − w, k·w].
func histKey(ts, w int64) int64 {
	k := ts / w // rounds towards zero: the ceiling for ts < 0
	if ts%w != 0 && ts > 0 {
		k++
	}
	return k
}

// appendHistogram appends the kind-3 filter of the head's entries
// (sorted, non-empty) to dst, with the smallest width of histWidths that
// leaves at least histEntriesPerBucket entries per non-empty bucket; it
// appends nothing if none does.
func appendHistogram(dst []byte, h *headBlock) []byte {
	es := h.entries
	limit := len(es) / histEntriesPerBucket
	if limit == 0 {
		return dst
	}
	var width uint64
	for _, s := range histWidths {
		w := int64(s * 1e9)
		n, prev := 1, histKey(es[0].ts, w)
		for i := 1; i < len(es) && n <= limit; i++ {
			if k := histKey(es[i].ts, w); k != prev {
				n, prev = n+1, k
			}
		}
		if n <= limit {
			width = s
			break
		}
	}
	if width == 0 {
		return dst
	}
	w := int64(width * 1e9)
	// The buckets go to a scratch buffer first: the filter starts with
	// their encoded length and count.
	var flags byte
	buckets := 0
	body := make([]byte, 0, 3*limit+16)
	k := histKey(es[0].ts, w)
	body = binary.AppendVarint(body, k)
	var cnt, bytes, gap uint64
	for _, e := range es {
		if e.metaLen > 1 { // a metadata count of 0 takes one byte
			flags = 1
		}
		if kk := histKey(e.ts, w); kk != k {
			body = appendBucket(body, buckets > 0, gap, cnt, bytes)
			buckets++
			gap, k, cnt, bytes = uint64(kk-k), kk, 0, 0
		}
		cnt++
		bytes += uint64(e.lineLen)
	}
	body = appendBucket(body, buckets > 0, gap, cnt, bytes)
	buckets++
	n := 1 + uvarintLen(width) + uvarintLen(uint64(buckets)) + len(body)
	dst = slices.Grow(dst, 1+uvarintLen(uint64(n))+n)
	dst = append(dst, filterKindHist)
	dst = binary.AppendUvarint(dst, uint64(n))
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, width)
	dst = binary.AppendUvarint(dst, uint64(buckets))
	return append(dst, body...)
}

func appendBucket(dst []byte, withGap bool, gap, cnt, bytes uint64) []byte {
	if withGap {
		dst = binary.AppendUvarint(dst, gap)
	}
	dst = binary.AppendUvarint(dst, cnt)
	return binary.AppendUvarint(dst, bytes)
}

// histFilter finds the kind-3 filter in a block's filter bytes and
// returns what follows its length; ok is false when there is none (or it
// comes after a filter of a kind this reader does not know).
func histFilter(f []byte) (body []byte, ok bool) {
	for len(f) > 0 {
		switch f[0] {
		case filterKindNgram:
			f = filterAfterNgram(f)
		case filterKindHist:
			n, p, ok := uvarint(f, 1)
			if !ok || n > uint64(len(f)-p) {
				return nil, false
			}
			return f[p : p+int(n)], true
		default:
			return nil, false
		}
	}
	return nil, false
}

// skipHist returns the filters that follow a leading kind-3 filter in f
// (f itself when it does not start with one).
func skipHist(f []byte) []byte {
	if len(f) == 0 || f[0] != filterKindHist {
		return f
	}
	n, p, ok := uvarint(f, 1)
	if !ok || n > uint64(len(f)-p) {
		return nil
	}
	return f[p+int(n):]
}

// summaryRun is a summary folded from a histogram: n entries of b line
// bytes in one cell, the newest no later than ts, which lies in the cell.
type summaryRun struct {
	ts   int64
	n, b int64
}

// foldHistogram appends to runs one summary per cell of the block's
// histogram body h, merging buckets that cell maps to the same value.
// Buckets wholly outside [from, through) are left out. It reports false,
// with runs as they were, when the histogram cannot answer: a bucket's
// entries may straddle a cell boundary or an end of [from, through),
// plainOnly is set and some entry carries metadata, or
// the histogram is malformed or disagrees with the index entry m (the
// caller then reads the columns, which are checked entry by entry).
func foldHistogram(runs []summaryRun, h []byte, m *BlockMeta, from, through int64, cell func(int64) int64, plainOnly bool) ([]summaryRun, bool) {
	start := len(runs)
	fail := func() ([]summaryRun, bool) { return runs[:start], false }
	if len(h) == 0 || h[0] > 1 || (plainOnly && h[0] == 1) {
		return fail()
	}
	width, p, ok := uvarint(h, 1)
	if !ok || width == 0 || width > histMaxWidthSeconds {
		return fail()
	}
	w := int64(width) * 1e9
	nb, p, ok := uvarint(h, p)
	if !ok || nb == 0 || nb > uint64(m.Entries) {
		return fail()
	}
	k, q := binary.Varint(h[p:])
	if q <= 0 || k != histKey(m.MinT, w) {
		return fail()
	}
	p += q
	firstKey, lastKey := k, histKey(m.MaxT, w)
	var (
		cur           summaryRun
		curEnd        int64
		have          bool
		total, totalB uint64
	)
	for i := uint64(0); i < nb; i++ {
		if i > 0 {
			var gap uint64
			if gap, p, ok = uvarint(h, p); !ok || gap == 0 || gap > uint64(lastKey-k) {
				return fail()
			}
			k += int64(gap)
		}
		var n, b uint64
		if n, p, ok = uvarint(h, p); !ok || n == 0 || n > uint64(m.Entries)-total {
			return fail()
		}
		if b, p, ok = uvarint(h, p); !ok || b > uint64(m.LineBytes)-totalB {
			return fail()
		}
		total, totalB = total+n, totalB+b
		// Bucket k spans ((k−1)·w, k·w]; only the first and last can reach
		// past the block's bounds, and clamping them there also keeps the
		// products from overflowing.
		lo, hi := (k-1)*w+1, k*w
		if k == firstKey {
			lo = m.MinT
		}
		if k == lastKey {
			hi = m.MaxT
		}
		if hi < from || lo >= through {
			continue // wholly outside the range: left out
		}
		if lo < from || hi >= through {
			return fail()
		}
		if have && hi <= curEnd {
			// Between the run's first entry and its cell's end: same cell.
			cur.ts, cur.n, cur.b = hi, cur.n+int64(n), cur.b+int64(b)
			continue
		}
		if have {
			runs = append(runs, cur)
		}
		if curEnd = cell(lo); hi > curEnd {
			return fail()
		}
		cur, have = summaryRun{ts: hi, n: int64(n), b: int64(b)}, true
	}
	if p != len(h) || k != lastKey || total != uint64(m.Entries) || totalB != uint64(m.LineBytes) {
		return fail()
	}
	if have {
		runs = append(runs, cur)
	}
	return runs, true
}
