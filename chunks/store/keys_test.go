package store

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/plgstack/plg/chunks/index"
)

func TestValidateTenant(t *testing.T) {
	tests := []struct {
		id    string
		valid bool
	}{
		{"fake", true},
		{"team-a_prod.eu", true},
		{"ünïcode", true},
		{strings.Repeat("a", MaxTenantLen), true},
		{"", false},
		{".", false},
		{"..", false},
		{"a/b", false},
		{"/", false},
		{`a\b`, false},
		{"a\nb", false},
		{"a\x00", false},
		{"a\x7f", false},
		{"a\u0085b", false}, // C1 control
		{"\xff", false},
		{strings.Repeat("a", MaxTenantLen+1), false},
	}
	for _, tt := range tests {
		err := ValidateTenant(tt.id)
		if tt.valid && err != nil {
			t.Errorf("ValidateTenant(%q) = %v, want nil", tt.id, err)
		}
		if !tt.valid && !errors.Is(err, ErrInvalidTenant) {
			t.Errorf("ValidateTenant(%q) = %v, want ErrInvalidTenant", tt.id, err)
		}
	}
}

func TestPeriodOfAlignsToEpoch(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		t    int64
		want int64
	}{
		{0, 0},
		{int64(day) - 1, 0},
		{int64(day), 1},
		{int64(20000*day) + 5, 20000},
		{-1, -1},
		{-int64(day), -1},
		{-int64(day) - 1, -2},
	}
	for _, tt := range tests {
		if got := periodOf(tt.t, day); got != tt.want {
			t.Errorf("periodOf(%d) = %d, want %d", tt.t, got, tt.want)
		}
	}
}

func TestChunkKeyLayout(t *testing.T) {
	day := 24 * time.Hour
	ref := index.ChunkRef{Fingerprint: 0xabc, MinT: int64(20000*day) + 0x10, MaxT: int64(20000*day) + 0xff, Checksum: 0xdeadbeef, Size: 9}
	got := ChunkKey("fake", ref, day)
	want := "fake/20000/chunks/0000000000000abc/" + "17fb16d83be00010-17fb16d83be000ff-deadbeef"
	if got != want {
		t.Errorf("ChunkKey = %q\nwant      %q", got, want)
	}
	// Sizes are not part of a chunk's identity, so they do not change its key.
	ref2 := ref
	ref2.Size, ref2.Entries = 99, 7
	if ChunkKey("fake", ref2, day) != got {
		t.Error("ChunkKey depends on sizes, want identity fields only")
	}
	if k := indexKey("fake", 20000, "ingester-0", 42); k != "fake/20000/index/ingester-0-42.idx" {
		t.Errorf("indexKey = %q", k)
	}
}

// FuzzChunkKey checks the hand-built key against the layout FORMAT.md
// gives in printf verbs.
func FuzzChunkKey(f *testing.F) {
	f.Add("fake", uint64(0xabc), int64(1763769600123456789), int64(1763769600123456789), uint32(0xdeadbeef), int64(24*time.Hour))
	f.Add("t", uint64(math.MaxUint64), int64(-1), int64(math.MinInt64), uint32(0), int64(1))
	f.Fuzz(func(t *testing.T, tenant string, fp uint64, minT, maxT int64, sum uint32, period int64) {
		if ValidateTenant(tenant) != nil || period <= 0 {
			return
		}
		ref := index.ChunkRef{Fingerprint: fp, MinT: minT, MaxT: maxT, Checksum: sum}
		want := fmt.Sprintf("%s/%d/chunks/%016x/%x-%x-%08x", tenant, periodOf(minT, time.Duration(period)), fp, uint64(minT), uint64(maxT), sum)
		if got := ChunkKey(tenant, ref, time.Duration(period)); got != want {
			t.Fatalf("ChunkKey = %q, want %q", got, want)
		}
	})
}

// FuzzValidateTenant checks that every accepted tenant ID is exactly one
// path component of the keys built from it.
func FuzzValidateTenant(f *testing.F) {
	for _, s := range []string{"fake", "..", "a/b", "a\\b", "\x00", "ü", ".hidden"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if ValidateTenant(id) != nil {
			return
		}
		key := ChunkKey(id, index.ChunkRef{Fingerprint: 1, MinT: 2, MaxT: 3}, time.Hour)
		parts := strings.Split(key, "/")
		if len(parts) != 5 || parts[0] != id || id == "." || id == ".." || strings.ContainsAny(id, "\\\x00") {
			t.Fatalf("tenant %q yields key %q", id, key)
		}
	})
}
