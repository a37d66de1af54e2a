package loadgen

// fileCap is 0 on Linux: the hard limit is the limit.
func fileCap() uint64 { return 0 }
