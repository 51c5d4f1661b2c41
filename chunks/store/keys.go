package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/plgstack/plg/chunks/index"
)

// MaxTenantLen is the longest tenant ID accepted, in bytes.
const MaxTenantLen = 150

// ErrInvalidTenant is wrapped by errors for tenant IDs that cannot be used
// as an object key component; the HTTP layer maps it to 400.
var ErrInvalidTenant = errors.New("invalid tenant ID")

// ValidateTenant reports whether id can name a tenant: non-empty, at most
// [MaxTenantLen] bytes, valid UTF-8, not "." or "..", and free of '/', '\\'
// and control characters. Errors wrap [ErrInvalidTenant].
func ValidateTenant(id string) error {
	if err := validateName(id); err != nil {
		return fmt.Errorf("%w %q: %s", ErrInvalidTenant, id, err)
	}
	return nil
}

// validateName checks a string used as one key path component.
func validateName(s string) error {
	switch {
	case s == "":
		return errors.New("empty")
	case s == "." || s == "..":
		return errors.New("a relative path element")
	case len(s) > MaxTenantLen:
		return fmt.Errorf("%d bytes, longer than %d", len(s), MaxTenantLen)
	case !utf8.ValidString(s):
		return errors.New("not valid UTF-8")
	}
	for _, r := range s {
		if r == '/' || r == '\\' || unicode.IsControl(r) {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}

// periodOf returns the number of the index period containing t: periods are
// [n*period, (n+1)*period) in Unix nanoseconds, so they align to the epoch.
func periodOf(t int64, period time.Duration) int64 {
	p := int64(period)
	n := t / p
	if t%p < 0 {
		n--
	}
	return n
}

// ChunkKey returns the object key of a chunk. It depends only on the
// tenant, the chunk identity and the index period length, so replicas that
// flush the same chunk write the same object. The chunk lives under the
// period of its MinT.
//
// It is built by hand rather than with fmt.Sprintf, which took a tenth of
// the time of reading a chunk's prefix from a local file: a query over
// the whole range names every chunk.
func ChunkKey(tenant string, ref index.ChunkRef, period time.Duration) string {
	var a [MaxTenantLen + 96]byte // the longest key: 20+16+16+16+8 digits, 7 separators
	b := append(a[:0], tenant...)
	b = append(b, '/')
	b = strconv.AppendInt(b, periodOf(ref.MinT, period), 10)
	b = append(b, "/chunks/"...)
	b = appendHex(b, ref.Fingerprint, 16)
	b = append(b, '/')
	b = strconv.AppendUint(b, uint64(ref.MinT), 16)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(ref.MaxT), 16)
	b = append(b, '-')
	b = appendHex(b, uint64(ref.Checksum), 8)
	return string(b)
}

// appendHex appends v in lowercase hex, zero-padded to digits.
func appendHex(b []byte, v uint64, digits int) []byte {
	const hex = "0123456789abcdef"
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hex[v>>(4*uint(i))&0xf])
	}
	return b
}

// indexDir returns the prefix under which the segments of one tenant and
// period are stored, with a trailing slash.
func indexDir(tenant string, period int64) string {
	return tenant + "/" + strconv.FormatInt(period, 10) + "/index/"
}

const indexSuffix = ".idx"

// indexKey returns the key of a segment written by writer at unixNano.
func indexKey(tenant string, period int64, writer string, unixNano int64) string {
	return indexDir(tenant, period) + writer + "-" + strconv.FormatInt(unixNano, 10) + indexSuffix
}

func isIndexKey(name string) bool { return strings.HasSuffix(name, indexSuffix) }

const packSuffix = ".pack"

// packDir returns the prefix under which a tenant's packs of one period
// are stored, with a trailing slash.
func packDir(tenant string, period int64) string {
	return tenant + "/" + strconv.FormatInt(period, 10) + "/packs/"
}

// packName returns the last key component of a pack written by writer at
// unixNano whose chunks end at maxT at the latest: retention expires the
// pack by that maxT, from the key alone.
func packName(writer string, unixNano, maxT int64) string {
	b := make([]byte, 0, len(writer)+48)
	b = append(b, writer...)
	b = append(b, '-')
	b = strconv.AppendInt(b, unixNano, 10)
	b = append(b, '-')
	b = strconv.AppendUint(b, uint64(maxT), 16)
	return string(append(b, packSuffix...))
}

// validPackName reports whether name, read from an index segment, can be
// a pack's last key component: it must not reach out of its directory.
// The full grammar is checked by retention (packNameMaxT), not on every
// chunk read.
func validPackName(name string) bool {
	return len(name) > len(packSuffix) && strings.HasSuffix(name, packSuffix) &&
		strings.IndexByte(name, '/') < 0 && strings.IndexByte(name, '\\') < 0
}

// PackKey returns the object key of the pack holding a chunk with a
// location (ref.Pack set): the pack lives under the period of the MinT
// of the chunks it holds.
func PackKey(tenant string, ref index.ChunkRef, period time.Duration) string {
	var a [MaxTenantLen + 64]byte
	b := append(a[:0], tenant...)
	b = append(b, '/')
	b = strconv.AppendInt(b, periodOf(ref.MinT, period), 10)
	b = append(b, "/packs/"...)
	b = append(b, ref.Pack...)
	return string(b)
}

// packNameMaxT parses a pack key's last component,
// <writer>-<unixnano>-<maxT>.pack (FORMAT.md), and returns its maxT.
// Other objects (a filesystem bucket's stray .tmp- files among them) do
// not parse.
func packNameMaxT(key string) (int64, bool) {
	base, ok := strings.CutSuffix(key[strings.LastIndexByte(key, '/')+1:], packSuffix)
	if !ok {
		return 0, false
	}
	i := strings.LastIndexByte(base, '-')
	if i < 0 {
		return 0, false
	}
	maxT, err := strconv.ParseUint(base[i+1:], 16, 64)
	if err != nil {
		return 0, false
	}
	j := strings.LastIndexByte(base[:i], '-')
	if j <= 0 { // the writer is not empty
		return 0, false
	}
	if _, err := strconv.ParseInt(base[j+1:i], 10, 64); err != nil {
		return 0, false
	}
	return int64(maxT), true
}
