// Package querier serves Loki's HTTP query API. It resolves tenants and
// parameters, gathers each selected stream from the ingesters' memory and
// from the object store, merges the two and drops the duplicates that
// replication or a not-yet-visible flush produce, and hands the merged
// streams to the LogQL engine (package logql). It renders results in Loki's
// JSON so Grafana and logcli work unmodified.
//
// It does not parse or evaluate LogQL itself, and it never writes.
package querier
