package index

import (
	"fmt"
	"math"
)

// Merge rewrites several segments into one holding the union of their
// series and chunk references, with duplicates removed. The compactor uses
// it to replace a period's many small per-flush segments with one.
func Merge(segments ...[]byte) ([]byte, error) {
	var all []Series
	for i, b := range segments {
		r, err := Open(b)
		if err != nil {
			return nil, fmt.Errorf("merge: segment %d: %w", i, err)
		}
		ss, err := r.Select(math.MinInt64, math.MaxInt64)
		if err != nil {
			return nil, fmt.Errorf("merge: segment %d: %w", i, err)
		}
		all = append(all, ss...)
	}
	out, err := Write(all)
	if err != nil {
		return nil, fmt.Errorf("merge: %w", err)
	}
	return out, nil
}
