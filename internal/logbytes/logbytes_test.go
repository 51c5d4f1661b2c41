package logbytes

import "testing"

func TestRarest(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"status", 4},     // u (6) below s, a (8) and t (9)
		{"5xx", 1},        // x (2) below a digit (8)
		{"a b", 2},        // b (4); the space is the most frequent class
		{"\xffa", 0},      // bytes outside ASCII rank 1
		{"timeout", 2},    // m (6) ties u; the first wins
		{"GET /api", 0},   // capitals rank 3, the first one wins
		{`"level":`, 3},   // v (3)
		{"2026-11-22", 4}, // '-' (7) below the digits (8)
	} {
		if got := Rarest([]byte(tc.s)); got != tc.want {
			t.Errorf("Rarest(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

func TestRarestInOrder(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want int
	}{
		{"", 0},
		{"needle", 0},  // n comes before l, e and d in Order
		{"timeout", 2}, // m comes before u, o, i, t and e
		{"xy", 0},      // neither byte is in Order: the first wins
		{"ax", 1},      // x is not in Order: rarer than a
		{"status", 4},  // u
	} {
		if got := RarestInOrder([]byte(tc.s)); got != tc.want {
			t.Errorf("RarestInOrder(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}

// Order lists each byte once: a repeat would make its rank ambiguous.
func TestOrderHasNoRepeats(t *testing.T) {
	var seen [256]bool
	for i := 0; i < len(Order); i++ {
		if seen[Order[i]] {
			t.Fatalf("byte %q appears twice in Order", Order[i])
		}
		seen[Order[i]] = true
	}
}
