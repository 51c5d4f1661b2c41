package index

import "math/bits"

// Postings are sorted, duplicate-free slices of series IDs.

// intersect returns the IDs present in both a and b, written over a.
func intersect(a, b []uint32) []uint32 {
	out := a[:0]
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// subtract returns the IDs of a absent from b, written over a.
func subtract(a, b []uint32) []uint32 {
	out := a[:0]
	j := 0
	for _, id := range a {
		for j < len(b) && b[j] < id {
			j++
		}
		if j < len(b) && b[j] == id {
			continue
		}
		out = append(out, id)
	}
	return out
}

// bitset collects the union of many postings lists in O(total + n/64)
// instead of a k-way merge.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (s bitset) set(id uint32) { s[id/64] |= 1 << (id % 64) }

// appendTo appends the set IDs in increasing order.
func (s bitset) appendTo(out []uint32) []uint32 {
	for w, word := range s {
		for word != 0 {
			tz := bits.TrailingZeros64(word)
			out = append(out, uint32(w*64+tz))
			word &= word - 1
		}
	}
	return out
}
