//go:build !unix

package loadgen

import "time"

// cpuMeasured says that cpuTime does not measure on this platform.
const cpuMeasured = false

// cpuTime is not measured on this platform: the report says so
// (GeneratorStats.Measured is false).
func cpuTime() time.Duration { return 0 }
