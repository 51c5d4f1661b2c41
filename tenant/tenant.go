// Package tenant resolves and validates tenant IDs. A tenant ID names a
// prefix in object storage, so it must never be able to escape it.
//
// It owns the X-Scope-OrgID conventions shared by the push path, the query
// API and the agent; it knows nothing of storage or streams.
package tenant

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Header carries the tenant ID, as in Loki.
const Header = "X-Scope-OrgID"

// Default is the tenant of every request when authentication is disabled,
// as in Loki.
const Default = "fake"

// MaxLength is the longest accepted tenant ID in bytes.
const MaxLength = 150

// ErrInvalid marks tenant IDs that are refused; the HTTP layer answers 400.
var ErrInvalid = errors.New("invalid tenant ID")

// ErrMissing is returned when authentication is enabled and no tenant was
// given; the HTTP layer answers 401.
var ErrMissing = errors.New("no tenant ID: set the " + Header + " header")

// Validate reports whether id can safely name a storage prefix.
func Validate(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalid)
	case len(id) > MaxLength:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrInvalid, len(id), MaxLength)
	case id == "." || id == "..":
		return fmt.Errorf("%w: %q is not allowed", ErrInvalid, id)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c == '/' || c == '\\' || c == '|' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %q contains %q at byte %d", ErrInvalid, id, c, i)
		}
	}
	return nil
}

// FromRequest returns the single tenant a write request is for.
func FromRequest(r *http.Request, authEnabled bool) (string, error) {
	if !authEnabled {
		return Default, nil
	}
	id := r.Header.Get(Header)
	if id == "" {
		return "", ErrMissing
	}
	return id, Validate(id)
}

// ManyFromRequest returns the tenants a read request spans: Loki allows
// `a|b|c` to query several tenants at once.
func ManyFromRequest(r *http.Request, authEnabled bool) ([]string, error) {
	if !authEnabled {
		return []string{Default}, nil
	}
	h := r.Header.Get(Header)
	if h == "" {
		return nil, ErrMissing
	}
	ids := strings.Split(h, "|")
	seen := make(map[string]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		if err := Validate(id); err != nil {
			return nil, err
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, nil
}
