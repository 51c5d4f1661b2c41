// Command plgbench is plg's end-to-end benchmark: it measures the real
// binary on a generated corpus and checks every answer.
//
// It generates a deterministic corpus from a seed (Kubernetes-style streams
// of JSON, nginx access and logfmt lines, with known level ratios, status
// codes, durations, trace IDs and a planted rare token), counting exactly
// what it writes. It starts `plg -mode=all` on a temporary directory,
// pushes the corpus with several concurrent clients, and reports ingest
// throughput, server CPU-seconds and peak RSS (from /proc), WAL and store
// size after a flush; it runs a suite of LogQL and metadata queries six
// times each, in ingester memory and again after a restart (from the
// store), failing the run when an answer differs from the generator's
// counts, with the server's peak RSS over each query's runs (the kernel's
// high-water mark, reset before them through /proc/<pid>/clear_refs);
// with -querier, the same queries through a separate `plg -mode=querier`
// on the store, for the querier's own memory; and it runs `plg -mode=agent` over files of the corpus, plain and
// CRI, shipping to a counting sink in this process.
//
// It owns the corpus generator, the harness and its report (Markdown and
// JSON). It must not reach into plg's packages to measure them: it talks to
// the binary over HTTP, as users do, and imports only push for the wire
// format. It never holds the corpus in memory; the push bodies are written
// to the temporary directory before the clock starts.
//
// Usage:
//
//	go run ./cmd/plgbench -size=1GB -out-json=bench.json -out-md=bench.md
//
// Linux only: it reads /proc/<pid>/stat and /proc/<pid>/status and writes
// /proc/<pid>/clear_refs.
package main
