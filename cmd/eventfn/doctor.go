package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventfn/eventfn/internal/doctor"
)

// newDoctorCmd is "eventfn doctor".
func newDoctorCmd() *cobra.Command {
	var b strings.Builder
	b.WriteString(`Check a project's infrastructure for the settings that lose or double
messages. PATH (default .) is a file or a directory searched recursively for
SAM/CloudFormation templates (YAML or JSON), Terraform files, Azure
function.json, host.json and local.settings.json, and Bicep files. Each
finding names its file and line.

Exit status: 0 when there is no error finding (warnings do not fail), 1 when
there is one, 2 when a file cannot be read or parsed.

Rules:
`)
	for _, r := range doctor.Rules {
		fmt.Fprintf(&b, "  %-31s %-7s %s\n", r.ID, r.Severity, r.Summary)
	}
	return &cobra.Command{
		Use:   "doctor [PATH]",
		Short: "Check infrastructure files for settings that lose or double messages",
		Long:  strings.TrimRight(b.String(), "\n"),
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("want at most one PATH; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			path := "."
			if len(args) == 1 {
				path = args[0]
			}
			return failureCode(runDoctor(cmd, path))
		},
	}
}

func runDoctor(cmd *cobra.Command, path string) error {
	r, err := doctor.Check(path)
	if err != nil {
		return withCode(exitUsage, err)
	}
	if jsonOutput(cmd) {
		if r.Findings == nil {
			r.Findings = []doctor.Finding{}
		}
		if err := printJSON(cmd.OutOrStdout(), r); err != nil {
			return withCode(exitFailure, err)
		}
	} else {
		printDoctor(cmd.OutOrStdout(), r)
	}
	if n := r.Errors(); n > 0 {
		return withCode(exitFailure, fmt.Errorf("%w: %d error finding(s)", errSilent, n))
	}
	return nil
}

func printDoctor(w io.Writer, r *doctor.Report) {
	for _, f := range r.Findings {
		fmt.Fprintln(w, f)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	errs := r.Errors()
	fmt.Fprintf(w, "%d file(s) checked: %d error(s), %d warning(s)\n", len(r.Files), errs, len(r.Findings)-errs)
}
