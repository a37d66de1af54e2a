package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/regfleet/regfleet/loadgen"
)

// runMerge combines shard reports into one.
func runMerge(_ context.Context, args []string, stdout, _ io.Writer) error {
	var o outputs
	fs := newFlagSet("merge")
	o.flags(fs, true)
	if err := parse(fs, "merge", args, stdout); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return usageError{errors.New("merge: name the shard reports (JSON files written with --out)")}
	}
	var reports []*loadgen.Report
	for _, path := range fs.Args() {
		r, err := readReport(path)
		if err != nil {
			return usageError{fmt.Errorf("merge: %w", err)}
		}
		reports = append(reports, r)
	}
	if err := o.parse(reportNames(reports...)); err != nil {
		return err
	}
	merged, err := loadgen.Merge(reports...)
	if err != nil {
		return usageError{fmt.Errorf("merge: %w", err)}
	}
	return o.write(merged, stdout)
}
