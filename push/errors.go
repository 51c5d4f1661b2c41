package push

import (
	"errors"
	"fmt"
)

// ErrBadRequest is matched (errors.Is) by every error that means the client
// sent something malformed: callers answer 400 Bad Request.
var ErrBadRequest = errors.New("bad push request")

// ErrTooLarge is matched (errors.Is) by errors for bodies over the size limit,
// compressed or decompressed: callers answer 413 Request Entity Too Large.
var ErrTooLarge = errors.New("push request too large")

// badf formats a client error that wraps ErrBadRequest. The message reads
// "bad push request: <what was wrong and where>".
func badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadRequest, fmt.Sprintf(format, args...))
}

// tooLargef formats an error that wraps ErrTooLarge.
func tooLargef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrTooLarge, fmt.Sprintf(format, args...))
}
