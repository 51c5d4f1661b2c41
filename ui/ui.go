package ui

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var files embed.FS

// asset is one embedded file ready to serve.
type asset struct {
	body        []byte
	gz          []byte // nil when gzip does not make it smaller
	etag        string
	contentType string
}

// assets holds every file under static, keyed by its URL path ("/js/main.js").
type assets map[string]*asset

// loadAssets reads, hashes and compresses every file of fsys once.
func loadAssets(fsys fs.FS) (assets, error) {
	out := assets{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return fmt.Errorf("ui asset %s: %w", p, err)
		}
		sum := sha256.Sum256(body)
		a := &asset{body: body, etag: `"` + hex.EncodeToString(sum[:8]) + `"`, contentType: contentType(p)}
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if _, err := zw.Write(body); err != nil {
			return fmt.Errorf("ui asset %s: gzip: %w", p, err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("ui asset %s: gzip: %w", p, err)
		}
		if buf.Len() < len(body) {
			a.gz = buf.Bytes()
		}
		out["/"+p] = a
		return nil
	})
	return out, err
}

func contentType(p string) string {
	switch path.Ext(p) {
	case ".js":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".html":
		return "text/html; charset=utf-8"
	}
	if t := mime.TypeByExtension(path.Ext(p)); t != "" {
		return t
	}
	return "application/octet-stream"
}

// Register serves the UI at / on r. Paths the API owns are left alone.
func Register(r *gin.Engine) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	h, err := newHandler(sub)
	if err != nil {
		panic(err) // embedded files are readable by construction
	}
	r.NoRoute(gin.WrapH(h))
}

// handler serves the embedded assets; unknown paths get index.html so the
// page's own routes and query-string links work on reload.
type handler struct{ assets assets }

func newHandler(fsys fs.FS) (*handler, error) {
	a, err := loadAssets(fsys)
	if err != nil {
		return nil, err
	}
	if a["/index.html"] == nil {
		return nil, fmt.Errorf("ui: static/index.html missing")
	}
	return &handler{assets: a}, nil
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if (r.Method != http.MethodGet && r.Method != http.MethodHead) || strings.HasPrefix(p, "/loki/") || strings.HasPrefix(p, "/ingester/") {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	a := h.assets[path.Clean("/"+p)]
	if a == nil || p == "/" {
		a = h.assets["/index.html"]
	}
	hd := w.Header()
	hd.Set("Content-Type", a.contentType)
	hd.Set("ETag", a.etag)
	// Revalidate every time: the ETag makes that a 304, and a new binary's
	// UI is never mixed with a cached old module.
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Add("Vary", "Accept-Encoding")
	if etagMatch(r.Header.Get("If-None-Match"), a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if a.gz != nil && acceptsGzip(r.Header.Get("Accept-Encoding")) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	// Explicit: gin presets 404 for NoRoute handlers.
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding, honouring an explicit gzip;q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
