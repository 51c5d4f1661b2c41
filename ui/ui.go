// Package ui serves plg's web UI: static files embedded in the binary, so
// the UI works offline and ships with every release. It talks to the query
// API over HTTP like any other client and owns no data.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

//go:embed static
var files embed.FS

// Register serves the UI at / on r. Paths the API owns are left alone.
func Register(r *gin.Engine) {
	sub, err := fs.Sub(files, "static")
	if err != nil {
		panic(err) // the embed directive guarantees the directory
	}
	fileServer := http.FileServer(http.FS(sub))
	r.NoRoute(func(c *gin.Context) {
		p := c.Request.URL.Path
		if c.Request.Method != http.MethodGet || strings.HasPrefix(p, "/loki/") || strings.HasPrefix(p, "/ingester/") {
			c.String(http.StatusNotFound, "404 page not found\n")
			return
		}
		if p != "/" {
			if _, err := fs.Stat(sub, strings.TrimPrefix(p, "/")); err != nil {
				p = "/" // client-side routes fall back to the app
			}
		}
		c.Request.URL.Path = p
		fileServer.ServeHTTP(c.Writer, c.Request)
	})
}
