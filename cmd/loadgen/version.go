package main

import (
	"runtime/debug"
	"strings"
)

// versionLine returns what --version prints: "loadgen VERSION", from the
// build information of the binary.
func versionLine() string {
	bi, ok := debug.ReadBuildInfo()
	return "loadgen " + version(bi, ok)
}

// version returns the module version of the build, "(devel)" when it has
// none, followed by the short VCS revision and "modified" when the build
// recorded them: "v1.2.0", "(devel) 7714f2740c93 modified".
func version(bi *debug.BuildInfo, ok bool) string {
	if !ok || bi == nil {
		return "(devel)"
	}
	parts := []string{bi.Main.Version}
	if parts[0] == "" {
		parts[0] = "(devel)"
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev != "" {
		parts = append(parts, rev[:min(len(rev), 12)])
	}
	if modified == "true" {
		parts = append(parts, "modified")
	}
	return strings.Join(parts, " ")
}
