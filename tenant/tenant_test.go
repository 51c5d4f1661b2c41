package tenant

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"team-a", true},
		{"fake", true},
		{"a.b_c-1", true},
		{"", false},
		{".", false},
		{"..", false},
		{"../etc", false},
		{"a/b", false},
		{`a\b`, false},
		{"a|b", false},
		{"tab\there", false},
		{strings.Repeat("x", 150), true},
		{strings.Repeat("x", 151), false},
	} {
		err := Validate(tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("Validate(%q) = %v, want ok=%v", tc.id, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("Validate(%q) error %v is not ErrInvalid", tc.id, err)
		}
	}
}

func TestFromRequestUsesFakeWhenAuthDisabled(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	r.Header.Set(Header, "someone")
	id, err := FromRequest(r, false)
	if err != nil || id != Default {
		t.Fatalf("got %q, %v; want %q", id, err, Default)
	}
}

func TestFromRequestRequiresHeaderWhenAuthEnabled(t *testing.T) {
	r := httptest.NewRequest("POST", "/", nil)
	if _, err := FromRequest(r, true); !errors.Is(err, ErrMissing) {
		t.Fatalf("err = %v, want ErrMissing", err)
	}
	r.Header.Set(Header, "../x")
	if _, err := FromRequest(r, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
	r.Header.Set(Header, "team-a")
	if id, err := FromRequest(r, true); err != nil || id != "team-a" {
		t.Fatalf("got %q, %v", id, err)
	}
}

func TestManyFromRequestSplitsAndDeduplicates(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set(Header, "a|b|a")
	ids, err := ManyFromRequest(r, true)
	if err != nil || strings.Join(ids, ",") != "a,b" {
		t.Fatalf("got %v, %v", ids, err)
	}
	r.Header.Set(Header, "a||b")
	if _, err := ManyFromRequest(r, true); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty member: err = %v, want ErrInvalid", err)
	}
}
