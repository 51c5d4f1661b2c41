package ui

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func testRouter(t testing.TB) *gin.Engine {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.GET("/loki/api/v1/labels", func(c *gin.Context) { c.String(http.StatusOK, "api") })
	Register(r)
	return r
}

func staticFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := fs.ReadFile(files, "static/"+name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRegisterServesEmbeddedFilesAndLeavesTheAPIAlone(t *testing.T) {
	r := testRouter(t)
	index := staticFile(t, "index.html")
	mainJS := staticFile(t, "js/main.js")
	cases := []struct {
		name, method, path string
		status             int
		ctype              string
		body               []byte // nil: not checked
	}{
		{"root is the app", "GET", "/", 200, "text/html; charset=utf-8", index},
		{"index.html by name", "GET", "/index.html", 200, "text/html; charset=utf-8", index},
		{"module with a JS type browsers accept", "GET", "/js/main.js", 200, "text/javascript; charset=utf-8", mainJS},
		{"stylesheet", "GET", "/style.css", 200, "text/css; charset=utf-8", nil},
		{"client route falls back to the app", "GET", "/explore/some/view", 200, "text/html; charset=utf-8", index},
		{"query-string link opens the app", "GET", "/?query=%7Bapp%3D%22x%22%7D&from=now-1h", 200, "text/html; charset=utf-8", index},
		{"dot-dot cannot leave static", "GET", "/js/../../ui.go", 200, "text/html; charset=utf-8", index},
		{"HEAD has no body", "HEAD", "/js/main.js", 200, "text/javascript; charset=utf-8", []byte{}},
		{"API route still answers", "GET", "/loki/api/v1/labels", 200, "", []byte("api")},
		{"unknown API path is a 404, not the app", "GET", "/loki/api/v1/nope", 404, "", nil},
		{"ingester paths are not the app", "GET", "/ingester/flush", 404, "", nil},
		{"POST is not served", "POST", "/", 404, "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(c.method, c.path, nil))
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if c.ctype != "" && w.Header().Get("Content-Type") != c.ctype {
				t.Errorf("Content-Type %q, want %q", w.Header().Get("Content-Type"), c.ctype)
			}
			if c.body != nil && !bytes.Equal(w.Body.Bytes(), c.body) {
				t.Errorf("body differs from the expected file (%d bytes, want %d)", w.Body.Len(), len(c.body))
			}
		})
	}
}

func TestGzipAndETagRevalidation(t *testing.T) {
	r := testRouter(t)
	want := staticFile(t, "js/main.js")

	req := httptest.NewRequest("GET", "/js/main.js", nil)
	req.Header.Set("Accept-Encoding", "br, gzip;q=0.8")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", w.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gunzipped body differs from js/main.js (err %v)", err)
	}
	etag := w.Header().Get("ETag")
	if !strings.HasPrefix(etag, `"`) {
		t.Fatalf("ETag %q is not a strong quoted tag", etag)
	}

	for _, c := range []struct {
		name, ifNoneMatch, acceptEnc string
		status                       int
		encoding                     string
	}{
		{"matching ETag answers 304", etag, "", http.StatusNotModified, ""},
		{"weak form of the ETag matches too", "W/" + etag, "", http.StatusNotModified, ""},
		{"one of a list matches", `"x", ` + etag, "", http.StatusNotModified, ""},
		{"other ETag gets the file", `"0000"`, "", http.StatusOK, ""},
		{"gzip refused with q=0", "", "gzip;q=0", http.StatusOK, ""},
		{"no Accept-Encoding gets identity", "", "", http.StatusOK, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "/js/main.js", nil)
			if c.ifNoneMatch != "" {
				req.Header.Set("If-None-Match", c.ifNoneMatch)
			}
			if c.acceptEnc != "" {
				req.Header.Set("Accept-Encoding", c.acceptEnc)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Fatalf("status %d, want %d", w.Code, c.status)
			}
			if w.Header().Get("Content-Encoding") != c.encoding {
				t.Errorf("Content-Encoding %q, want %q", w.Header().Get("Content-Encoding"), c.encoding)
			}
			if c.status == http.StatusOK && !bytes.Equal(w.Body.Bytes(), want) {
				t.Errorf("body is not the identity file")
			}
		})
	}
}

// TestPageWeight keeps the whole UI within its budget: every embedded file,
// gzipped as served, under 300 KB.
func TestPageWeight(t *testing.T) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		t.Fatal(err)
	}
	a, err := loadAssets(sub)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 300 << 10
	var raw, gz int
	for p, f := range a {
		raw += len(f.body)
		n := len(f.body)
		if f.gz != nil {
			n = len(f.gz)
		}
		gz += n
		t.Logf("%-20s %6d B raw %6d B served", p, len(f.body), n)
	}
	t.Logf("total: %d B raw, %d B gzipped (budget %d B)", raw, gz, budget)
	if gz > budget {
		t.Errorf("UI is %d B gzipped, over the %d B budget", gz, budget)
	}
}

// TestNoExternalResources proves the offline promise: no file refers to
// another origin.
func TestNoExternalResources(t *testing.T) {
	err := fs.WalkDir(files, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(files, p)
		if err != nil {
			return err
		}
		for _, bad := range []string{"http://", "https://", "//fonts.", "@import url("} {
			if i := bytes.Index(b, []byte(bad)); i >= 0 {
				t.Errorf("%s refers to an external resource at byte %d: %q", p, i, b[i:min(len(b), i+60)])
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// FuzzServePath: any path is either an embedded file, the app, or a 404 for
// API paths; never a panic, a 5xx, or bytes from outside static.
func FuzzServePath(f *testing.F) {
	for _, s := range []string{"/", "/js/main.js", "/../ui.go", "/loki/api/v1/x", "//", "/%2e%2e/ui.go", "/js/./main.js", "/ingester/", "/a\x00b"} {
		f.Add(s)
	}
	sub, err := fs.Sub(files, "static")
	if err != nil {
		f.Fatal(err)
	}
	h, err := newHandler(sub)
	if err != nil {
		f.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, a := range h.assets {
		allowed[string(a.body)] = true
	}
	f.Fuzz(func(t *testing.T, p string) {
		req := httptest.NewRequest("GET", "/", nil)
		req.URL.Path = p
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
			if !allowed[w.Body.String()] {
				t.Fatalf("path %q served bytes that are not an embedded file", p)
			}
		case http.StatusNotFound:
			if !strings.HasPrefix(p, "/loki/") && !strings.HasPrefix(p, "/ingester/") {
				t.Fatalf("path %q: 404 outside the API prefixes", p)
			}
		default:
			t.Fatalf("path %q: status %d", p, w.Code)
		}
	})
}

func BenchmarkServeGzippedModule(b *testing.B) {
	r := testRouter(b)
	req := httptest.NewRequest("GET", "/js/main.js", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	w := httptest.NewRecorder()
	r.ServeHTTP(w, req)
	b.SetBytes(int64(w.Body.Len()))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
	}
}
