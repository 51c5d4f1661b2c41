// Package logbytes knows how often each byte occurs in log text, so that
// substring searches can scan for a needle's rarest byte with
// bytes.IndexByte and verify the few hits. Both the chunk scan (chunks)
// and the line filters (querier/logql/log) use it; it depends on nothing.
package logbytes

import "strings"

// Order is the bytes least frequent in log text first, as measured over
// the plgbench corpus (JSON, access-log and logfmt lines in about equal
// parts; '"' is 6.9% of it, 'g' 0.5%); any byte not listed is rarer than
// these. It ranks a needle's bytes more finely than Rank, whose coarse
// classes suit a threshold: Rank puts "needle"'s d (2.5% of the corpus)
// below its n (1.3%), and a scan for the d runs at less than half the
// speed of a scan for the n.
const Order = "g_vhT-nmp=bf,lu897r3.o54c6i/d:sat2 10e\""

// RarestInOrder returns the offset of the byte of s that comes first in
// Order, or of the first byte not in Order at all (rarer than all of
// them); 0 for an empty s.
func RarestInOrder(s []byte) int {
	best, bestRank := 0, len(Order)+1
	for i, c := range s {
		if r := strings.IndexByte(Order, c); r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}

// MaxRank is the largest Rank.
const MaxRank = 10

// Rank is a rough frequency class of c in log lines (English words, JSON
// and logfmt punctuation, digits, hex), higher for more frequent bytes, at
// most MaxRank.
func Rank(c byte) int {
	switch {
	case c == ' ' || c == '"':
		return MaxRank
	case c >= '0' && c <= '9':
		return 8
	case c >= 'a' && c <= 'z':
		return int("84679556823768851889634241"[c-'a'] - '0')
	case c >= 'A' && c <= 'Z':
		return 3
	case c == ':' || c == ',' || c == '=' || c == '.' || c == '/' || c == '-' || c == '_':
		return 7
	case c >= 0x80 || c < ' ':
		return 1
	}
	return 2
}

// Rarest returns the offset of the byte of s with the lowest Rank (the
// first such byte), 0 for an empty s.
func Rarest(s []byte) int {
	best, bestRank := 0, MaxRank+1
	for i, c := range s {
		if r := Rank(c); r < bestRank {
			best, bestRank = i, r
		}
	}
	return best
}
