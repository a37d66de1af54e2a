//go:build !unix

package loadgen

import "time"

// cpuTime is not measured on this platform: the report says so
// (GeneratorStats.Measured is false).
func cpuTime() time.Duration { return 0 }
