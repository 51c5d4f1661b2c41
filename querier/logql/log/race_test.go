//go:build race

package log

// raceEnabled: under the race detector sync.Pool drops a share of what is
// put back, so regexp's pooled matchers are allocated anew now and then and
// zero-allocation checks of regex filters would fail at random.
const raceEnabled = true
