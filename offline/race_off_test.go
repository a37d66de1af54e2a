//go:build !race

package offline

// raceEnabled reports a -race build.
const raceEnabled = false
