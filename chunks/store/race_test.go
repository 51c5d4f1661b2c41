//go:build race

package store

// raceEnabled: the race detector slows objstore's acceptance test (a 200
// MiB upload through the fake GCS server) from seconds to over a minute;
// make test runs it once more without the detector.
const raceEnabled = true
