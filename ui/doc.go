// Package ui owns plg's web UI: the Explore page (LogQL editor, label
// browser, volume histogram, log list, metric chart, live tail) as
// hand-written HTML, CSS and JavaScript modules under static/, embedded in
// the binary and served at / next to the API.
//
// The UI is a client of the public Loki HTTP API and nothing else: it must
// not import querier, ingester or storage packages, must not add server
// routes under /loki/ or /ingester/, and must not load anything from the
// network beyond this server (no CDN, no web fonts), so it works offline.
//
// There is no build step on purpose: the modules are small enough (see
// TestPageWeight for the budget) that a bundler would add a toolchain to CI
// without making the page measurably faster, and the files served are the
// files reviewed. Files are gzipped once at start-up and served with strong
// ETags, so a browser revalidates cheaply and always sees the running
// binary's UI.
package ui
