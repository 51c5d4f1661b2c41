// Package client batches log entries and pushes them to ingesters over
// Loki's push API (snappy-compressed protobuf on /loki/api/v1/push), the way
// Promtail's client does: one batch per tenant, entries grouped by stream,
// flushed after batchwait or at batchsize; 429, 5xx and connection errors
// retried with jittered exponential backoff for up to max_retries retries or
// max_elapsed (default 5 minutes); other 4xx dropped and counted. A client
// holds at most max_pending_bytes of unacknowledged lines; beyond that
// Handle blocks, which pauses the tailers (back-pressure).
//
// It owns batching, retries and acknowledgement: an entry's ticket is done
// only after a 2xx for the batch holding it, or when the batch is given up
// (rejected with 4xx, or retries exhausted), so positions never run ahead of
// what an ingester accepted. Multi spreads streams over several ingesters by
// label hash so a stream always goes to the same one.
//
// It must not read files, run pipeline stages or encode the wire format
// itself (package push does).
package client
