package push_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/plgstack/plg/push"
)

// An ingester's push handler: a pool of Decoders keeps the body buffers
// warm, errors map to status codes, and lines are copied before the Decoder
// goes back to the pool.
func ExampleDecoder_ReadHTTP() {
	var decoders = sync.Pool{New: func() any { return new(push.Decoder) }}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := decoders.Get().(*push.Decoder)
		defer decoders.Put(d)
		var req push.Request
		if err := d.ReadHTTP(r, 4<<20, &req); err != nil {
			switch {
			case errors.Is(err, push.ErrTooLarge):
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			case errors.Is(err, push.ErrBadRequest):
				http.Error(w, err.Error(), http.StatusBadRequest)
			default:
				http.Error(w, err.Error(), http.StatusInternalServerError)
			}
			return
		}
		for _, s := range req.Streams {
			ls, err := push.ParseLabels(s.Labels)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			for _, e := range s.Entries {
				line := string(e.Line) // a copy: e.Line is reused by the next request
				fmt.Println(ls, e.Timestamp, line, e.Metadata)
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})

	body := push.EncodeBody(&push.Request{Streams: []push.Stream{{
		Labels:  `{env="prod", app="api"}`,
		Entries: []push.Entry{{Timestamp: 1700000000000000000, Line: []byte("GET /health 200")}},
	}}})
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/loki/api/v1/push", strings.NewReader(string(body))))
	fmt.Println(rec.Code)

	rec = httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, "/loki/api/v1/push",
		strings.NewReader(`{"streams":[{"stream":{"app":"api"},"values":[[1700000000000000000,"x"]]}]}`))
	r.Header.Set("Content-Type", "application/json")
	handler.ServeHTTP(rec, r)
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output:
	// {app="api", env="prod"} 1700000000000000000 GET /health 200 {}
	// 204
	// 400 bad push request: stream 0 entry 0: byte 47: timestamp must be a string of Unix nanoseconds, got number
}
