package entry

import (
	"slices"
	"testing"
)

type rec struct{ acked []uint64 }

func (r *rec) Ack(first, last uint64) {
	for s := first; s <= last; s++ {
		r.acked = append(r.acked, s)
	}
}

func TestTicketMerge(t *testing.T) {
	tests := []struct {
		name  string
		seqs  [][]uint64 // tickets to merge in order, each one line
		want  []uint64
		lines int
	}{
		{name: "adjacent lines merge into one range", seqs: [][]uint64{{3}, {4}, {5}}, want: []uint64{3, 4, 5}, lines: 3},
		{name: "a gap is never covered", seqs: [][]uint64{{1}, {2}, {4}}, want: []uint64{1, 2, 4}, lines: 3},
		{name: "single line", seqs: [][]uint64{{9}}, want: []uint64{9}, lines: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &rec{}
			var tk Ticket
			for _, s := range tc.seqs {
				tk = tk.Merge(NewTicket(r, s[0]))
			}
			if tk.Lines() != tc.lines {
				t.Fatalf("Lines() = %d, want %d", tk.Lines(), tc.lines)
			}
			tk.Done()
			if !slices.Equal(r.acked, tc.want) {
				t.Fatalf("acked %v, want %v", r.acked, tc.want)
			}
		})
	}
}

func TestZeroTicketIsInert(t *testing.T) {
	var z Ticket
	z.Done()
	if !z.IsZero() || z.Lines() != 0 {
		t.Fatal("zero ticket should cover nothing")
	}
	r := &rec{}
	if got := z.Merge(NewTicket(r, 1)); got.IsZero() {
		t.Fatal("merging into zero should give the other ticket")
	}
}
