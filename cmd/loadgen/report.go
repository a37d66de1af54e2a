package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// runReport renders a saved report and checks thresholds against it.
func runReport(_ context.Context, args []string, stdout, _ io.Writer) error {
	var o outputs
	fs := newFlagSet("report")
	o.flags(fs, false)
	if err := parse(fs, "report", args, stdout); err != nil {
		return err
	}
	switch fs.NArg() {
	case 0:
		return usageError{errors.New("report: name the report (a JSON file written with --out or by merge)")}
	case 1:
	default:
		return usageError{fmt.Errorf("report: one report at a time (%d named; merge combines shards, compare lines two runs up)", fs.NArg())}
	}
	r, err := readReport(fs.Arg(0))
	if err != nil {
		return usageError{fmt.Errorf("report: %w", err)}
	}
	if err := o.parse(reportNames(r)); err != nil {
		return err
	}
	return o.write(r, stdout)
}
