package freelist

import (
	"runtime"
	"testing"
	"time"
)

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

func TestAgingDropsWhatTwoCollectionsFoundUnused(t *testing.T) {
	l := New(4, func() *int { return new(int) })
	x := new(int)
	l.Put(x)
	l.age() // as after a collection: kept, now old
	if n := l.Len(); n != 1 {
		t.Fatalf("after one collection the list holds %d, want 1", n)
	}
	if l.Get() != x {
		t.Fatal("an object put before the last collection was not reused")
	}
	l.Put(x)
	l.age()
	l.age() // not taken between two collections: dropped
	if n := l.Len(); n != 0 {
		t.Fatalf("after two collections unused the list holds %d, want 0", n)
	}
}

func TestCollectionsAgeTheList(t *testing.T) {
	// The real hook: collections, not calls, drop what an idle process
	// does not use.
	l := New(4, func() *int { return new(int) })
	l.Put(new(int))
	deadline := time.Now().Add(10 * time.Second)
	for l.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the list still holds %d objects after collections for 10 s", l.Len())
		}
		runtime.GC()
		time.Sleep(time.Millisecond)
	}
}
