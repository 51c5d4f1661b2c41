package store

import (
	"errors"
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
