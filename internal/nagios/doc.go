// Package nagios implements the parts of the Monitoring Plugins interface
// (the Nagios plugin API that Icinga, Centreon and Naemon share) that a check
// needs: the four states and their exit codes, threshold ranges in the
// guidelines' syntax, and performance data.
//
// A check parses its -w and -c options with ParseRange, compares each
// measured value with Thresholds.Status, and appends a Perf for each value
// after the "|" of its first output line:
//
//	w, _ := nagios.ParseRange("500")   // alert above 500 (or below 0)
//	c, _ := nagios.ParseRange("2000")
//	th := nagios.Thresholds{Warning: &w, Critical: &c}
//	st := th.Status(712)              // nagios.Warning
//	p := nagios.Perf{Label: "time", Value: 712, UOM: "ms", Warn: &w, Crit: &c}
//	fmt.Println(st, p)                // WARNING time=712ms;500;2000
//
// ParseOutput reads a plugin's output back and checks its format; tests and
// drills use it to assert what a monitoring system would see.
package nagios
