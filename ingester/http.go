package ingester

import (
	"errors"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/plgstack/plg/push"
	tenantid "github.com/plgstack/plg/tenant"
)

// MaxPushBytes bounds a push body, compressed and decompressed.
const MaxPushBytes = 64 << 20

// pushState is what one push request needs: a decoder whose buffers are
// reused across requests, and the decoded request. Lines alias the
// decoder's buffer, which is safe because Push copies what it keeps (into
// chunks and the WAL record) before returning.
type pushState struct {
	dec push.Decoder
	req push.Request
}

var pushPool = sync.Pool{New: func() any { return new(pushState) }}

// RegisterRoutes adds the push and flush endpoints to r.
func (i *Ingester) RegisterRoutes(r gin.IRouter, authEnabled bool) {
	pushHandler := func(c *gin.Context) { i.handlePush(c, authEnabled) }
	r.POST("/loki/api/v1/push", pushHandler)
	r.POST("/api/prom/push", pushHandler)
	r.POST("/flush", func(c *gin.Context) {
		if err := i.Flush(c.Request.Context()); err != nil {
			c.String(http.StatusInternalServerError, "flush incomplete: %v\n", err)
			return
		}
		c.Status(http.StatusNoContent)
	})
}

func (i *Ingester) handlePush(c *gin.Context, authEnabled bool) {
	id, err := tenantid.FromRequest(c.Request, authEnabled)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, tenantid.ErrMissing) {
			status = http.StatusUnauthorized
		}
		c.String(status, "%v\n", err)
		return
	}
	// Wait for chunk memory before the body is read and decoded, so
	// waiting pushes hold no request buffers; Push's own check then passes.
	if err := i.waitForMemory(c.Request.Context()); err != nil {
		status := http.StatusServiceUnavailable
		var perr *Error
		if errors.As(err, &perr) {
			status = perr.Status
		}
		c.String(status, "%v\n", err)
		return
	}
	st := pushPool.Get().(*pushState)
	released := false
	release := func() {
		if !released {
			released = true
			pushPool.Put(st)
		}
	}
	defer release()
	req := &st.req
	if err := st.dec.ReadHTTP(c.Request, MaxPushBytes, req); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, push.ErrTooLarge) {
			status = http.StatusRequestEntityTooLarge
		}
		c.String(status, "%v\n", err)
		return
	}
	// push releases st as soon as the lines are appended and in the WAL's
	// batch, so pushes waiting for the fsync hold no request buffers.
	if err := i.push(c.Request.Context(), id, req, release); err != nil {
		var perr *Error
		if errors.As(err, &perr) {
			c.String(perr.Status, "%s", perr.Msg)
			return
		}
		i.logger.Error("push failed", "tenant", id, "err", err)
		c.String(http.StatusInternalServerError, "%v\n", err)
		return
	}
	c.Status(http.StatusNoContent)
}
