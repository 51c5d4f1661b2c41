package positions

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]Position
		wantErr string
	}{
		{
			name: "promtail file without identities keeps offsets",
			in:   "positions:\n  /var/log/a.log: \"123\"\n  /var/log/b.log: \"0\"\n",
			want: map[string]Position{"/var/log/a.log": {Offset: 123}, "/var/log/b.log": {}},
		},
		{
			name: "identities attach device and inode",
			in:   "positions:\n  /a: \"7\"\nidentities:\n  /a: \"2049:99\"\n",
			want: map[string]Position{"/a": {Offset: 7, Dev: 2049, Inode: 99}},
		},
		{name: "empty file is empty map", in: "", want: map[string]Position{}},
		{name: "unknown top-level key is rejected", in: "positons: {}\n", wantErr: "positons"},
		{name: "non-numeric offset is rejected", in: "positions:\n  /a: abc\n", wantErr: `"/a"`},
		{name: "negative offset is rejected", in: "positions:\n  /a: \"-1\"\n", wantErr: "invalid offset"},
		{name: "malformed identity is rejected", in: "positions:\n  /a: \"1\"\nidentities:\n  /a: \"12\"\n", wantErr: "dev:inode"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEncodeDecodeRoundTrips(t *testing.T) {
	in := map[string]Position{
		"/a":          {Offset: 10, Dev: 1, Inode: 2},
		"/b with sp":  {Offset: 1 << 40},
		"journal-foo": {Offset: 0},
	}
	b, err := Encode(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip: got %v, want %v", out, in)
	}
}

func TestStoreSavesAtomicallyAndReloads(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "sub", "positions.yaml")
	s, err := Open(Config{Filename: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Set("/x", Position{Offset: 5, Dev: 3, Inode: 4})
	s.Set("/y", Position{Offset: 6})
	s.Remove("/y")
	if err := s.Save(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Dir(name))
	if len(entries) != 1 {
		t.Fatalf("directory holds %d files, want only the positions file (temp file left behind?)", len(entries))
	}
	s2, err := Open(Config{Filename: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s2.Get("/x"); got != (Position{Offset: 5, Dev: 3, Inode: 4}) {
		t.Fatalf("reloaded /x = %v", got)
	}
	if _, ok := s2.Get("/y"); ok {
		t.Fatal("removed /y came back")
	}
}

func TestOpenInvalidFile(t *testing.T) {
	name := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(name, []byte("positions: [1,2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Config{Filename: name}, nil); err == nil || !strings.Contains(err.Error(), name) {
		t.Fatalf("invalid file: err = %v, want error naming the file", err)
	}
	s, err := Open(Config{Filename: name, IgnoreInvalidYAML: true}, nil)
	if err != nil {
		t.Fatalf("ignore_invalid_yaml: %v", err)
	}
	if len(s.Snapshot()) != 0 {
		t.Fatal("ignored invalid file should give an empty store")
	}
}

func TestRunSavesOnShutdown(t *testing.T) {
	name := filepath.Join(t.TempDir(), "p.yaml")
	s, err := Open(Config{Filename: name, SyncPeriod: time.Hour}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Run(ctx) }()
	s.Set("/z", Position{Offset: 42})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `/z: "42"`) {
		t.Fatalf("file after shutdown:\n%s", b)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("positions:\n  /a: \"1\"\nidentities:\n  /a: \"1:2\"\n"))
	f.Add([]byte("positions: {}\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			return
		}
		enc, err := Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		m2, err := Decode(enc)
		if err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("round trip mismatch: %v vs %v", m, m2)
		}
	})
}
