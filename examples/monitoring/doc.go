// Package monitoring holds the command definitions of cmd/regprobe for
// Icinga 2 (regprobe.conf: a CheckCommand and example objects) and Nagios
// (regprobe.cfg: a command and example objects). It has no code: its test
// reads both files as the monitoring software would, builds the command
// line each service's check runs, and runs the probe with it against a
// simulated cluster.
package monitoring
