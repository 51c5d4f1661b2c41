package logql

import (
	"errors"
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
)

// ErrBadRequest is matched (errors.Is) by every error the client caused:
// parse errors, limits, pipeline errors in metric queries, unsupported
// query shapes. The HTTP layer answers those with 400.
var ErrBadRequest = errors.New("bad request")

// Sentinel errors, matched with errors.Is. Each also matches ErrBadRequest.
var (
	// ErrLimit is matched by every *LimitError.
	ErrLimit = errors.New("limit reached while evaluating the query")
	// ErrPipeline is matched by every *PipelineError.
	ErrPipeline = errors.New("failed execute pipeline")
	// ErrInstantLogQuery rejects log queries on the instant endpoint, with
	// Loki's wording.
	ErrInstantLogQuery = errors.New("log queries are not supported as an instant query type, please change your query to a range query type")
)

// LimitError reports a query that exceeds a configured limit (series,
// entries, resolution).
type LimitError struct {
	msg string
}

func (e *LimitError) Error() string { return e.msg }

// Is makes LimitError match ErrLimit and ErrBadRequest.
func (e *LimitError) Is(target error) bool { return target == ErrLimit || target == ErrBadRequest }

func newSeriesLimitError(limit int) *LimitError {
	return &LimitError{msg: fmt.Sprintf("maximum number of series (%d) reached for a single query; consider reducing query cardinality by adding more specific stream selectors, reducing the time range, or aggregating results with functions like sum(), count() or topk()", limit)}
}

func newEntriesLimitError(requested, limit int) *LimitError {
	return &LimitError{msg: fmt.Sprintf("max entries limit per query exceeded, limit > max_entries_limit (%d > %d)", requested, limit)}
}

// PipelineError reports a sample carrying __error__ in a metric query: the
// pipeline failed on some line (a parser, a conversion) and the query did
// not filter the error out. The text is Loki's.
type PipelineError struct {
	Metric    labels.Labels
	ErrorType string
}

func newPipelineError(metric labels.Labels) *PipelineError {
	return &PipelineError{Metric: metric, ErrorType: metric.Get(errorLabel)}
}

func (e *PipelineError) Error() string {
	return fmt.Sprintf("pipeline error: '%s' for series: '%s'.\n"+
		"Use a label filter to intentionally skip this error. (e.g | __error__!=\"%s\").\n"+
		"To skip all potential errors you can match empty errors.(e.g __error__=\"\")\n"+
		"The label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )\n",
		e.ErrorType, e.Metric, e.ErrorType)
}

// Is makes PipelineError match ErrPipeline and ErrBadRequest.
func (e *PipelineError) Is(target error) bool {
	return target == ErrPipeline || target == ErrBadRequest
}

// badRequest marks err as caused by the client while keeping its text and
// its chain (errors.As still finds a *syntax.ParseError inside).
type badRequest struct{ err error }

func (e *badRequest) Error() string        { return e.err.Error() }
func (e *badRequest) Unwrap() error        { return e.err }
func (e *badRequest) Is(target error) bool { return target == ErrBadRequest }

func badRequestf(format string, args ...any) error {
	return &badRequest{err: fmt.Errorf(format, args...)}
}

func asBadRequest(err error) error {
	if err == nil || errors.Is(err, ErrBadRequest) {
		return err
	}
	return &badRequest{err: err}
}
