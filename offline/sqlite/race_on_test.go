//go:build race

package sqlite

// raceEnabled reports a -race build, whose SQLite (transpiled C) runs
// several times slower; the crash test widens its kill window to match.
const raceEnabled = true
