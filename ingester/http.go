package ingester

import (
	"errors"
	"net/http"
	"runtime"

	"github.com/gin-gonic/gin"

	"github.com/plgstack/plg/internal/freelist"
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

// pushStates are in use only inside a decode slot, so GOMAXPROCS of them
// serve every push (internal/freelist: a sync.Pool held about twice that).
var pushStates = freelist.New(runtime.GOMAXPROCS(0), func() *pushState { return new(pushState) })

// bodies holds push bodies as read (still encoded). Bodies are read before
// a decode slot is taken, so it keeps twice as many; maxPooledBody keeps
// one huge request from pinning its buffer.
var bodies = freelist.New(2*runtime.GOMAXPROCS(0), func() *[]byte { return new([]byte) })

const maxPooledBody = 8 << 20

func pushErrorStatus(err error) int {
	if errors.Is(err, push.ErrTooLarge) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusBadRequest
}

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
	// The body is read outside the decode slots, so a slow client holds
	// only its encoded body, never a slot.
	bp := bodies.Get()
	body, err := push.ReadBody((*bp)[:0], c.Request, MaxPushBytes)
	*bp = body
	putBody := func() {
		if cap(*bp) <= maxPooledBody {
			bodies.Put(bp)
		}
	}
	if err != nil {
		putBody()
		c.String(pushErrorStatus(err), "%v\n", err)
		return
	}
	select {
	case i.decodeSlots <- struct{}{}:
	case <-c.Request.Context().Done():
		putBody()
		c.String(http.StatusServiceUnavailable, "push abandoned while waiting to be decoded: %v\n", c.Request.Context().Err())
		return
	}
	st := pushStates.Get()
	released := false
	release := func() {
		if !released {
			released = true
			pushStates.Put(st)
			putBody()
			<-i.decodeSlots
		}
	}
	defer release()
	req := &st.req
	if err := st.dec.DecodeBody(body, c.Request.Header, MaxPushBytes, req); err != nil {
		c.String(pushErrorStatus(err), "%v\n", err)
		return
	}
	// push releases st as soon as the lines are appended and in the WAL's
	// batch, so pushes waiting for the fsync hold no request buffers.
	if err := i.push(c.Request.Context(), id, req, release, false); err != nil {
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
