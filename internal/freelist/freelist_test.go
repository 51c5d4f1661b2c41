package freelist

import "testing"

func TestListReusesAndStaysBounded(t *testing.T) {
	made := 0
	l := New(2, func() *[]byte { made++; b := make([]byte, 0, 64); return &b })
	a, b, c := l.Get(), l.Get(), l.Get()
	if made != 3 {
		t.Fatalf("made %d objects for 3 Gets on an empty list, want 3", made)
	}
	l.Put(a)
	l.Put(b)
	l.Put(c) // over the bound: dropped
	if n := l.Len(); n != 2 {
		t.Fatalf("list holds %d, want its bound 2", n)
	}
	got := map[*[]byte]bool{l.Get(): true, l.Get(): true}
	if !got[a] || !got[b] || made != 3 {
		t.Fatalf("Gets did not return the kept objects (made %d)", made)
	}
	if l.Get(); made != 4 {
		t.Fatalf("an empty list did not make a new object (made %d)", made)
	}
}

func TestNewKeepsAtLeastOne(t *testing.T) {
	l := New(0, func() *int { return new(int) })
	x := l.Get()
	l.Put(x)
	if l.Get() != x {
		t.Fatal("a list of bound 0 kept nothing; want at least 1")
	}
}
