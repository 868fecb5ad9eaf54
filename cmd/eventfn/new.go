package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/eventfn/eventfn/templates"
)

const newLong = `Create a function project in DIR (default ./NAME) from eventfn's templates:
handler.go (a typed JSON handler and its idempotency key), handler_test.go
(the handler tested directly and through the platform adapter with the
sample events in events/), the platform's main, a Makefile (build, test,
invoke, run-local, deploy), a README and the infrastructure:

  aws    SAM template.yaml: queue, dead-letter queue with redrive policy,
         partial batch responses, retained queues and table, least-privilege
         IAM, alarms on dead letters, message age, errors and throttles
  gcp    Terraform and deploy.sh: topic, push subscription with dead-letter
         and retry policies, a dead-letter topic whose subscription keeps the
         dead letters, IAM, a 2nd gen Cloud Function, a dead-letter alert
  azure  host.json, function.json (serviceBusTrigger), local.settings.json
         and Bicep: queue with maxDeliveryCount and lock duration, Flex
         Consumption app with a managed identity, Application Insights, alerts

The store is the idempotency store: redis, dynamodb (aws only) or memory (one
instance only, for trying things out). NAME is 2 to 30 lowercase letters,
digits and single hyphens, starting with a letter. The directory must not
exist: eventfn new never overwrites anything.`

// newNewCmd is "eventfn new".
func newNewCmd() *cobra.Command {
	var d templates.Data
	var dir, replace string
	cmd := &cobra.Command{
		Use:   "new NAME --cloud aws|gcp|azure --store redis|dynamodb|memory",
		Short: "Create a function project: handler, tests, main and infrastructure",
		Long:  newLong,
		Example: `  eventfn new orders --cloud aws --store dynamodb
  eventfn new billing-events --cloud gcp --store redis --module github.com/acme/billing-events`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageErrorf("want one argument, the project's NAME; got %d", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			d.Name = args[0]
			return failureCode(runNew(cmd, d, dir, replace))
		},
	}
	f := cmd.Flags()
	f.StringVar(&d.Cloud, "cloud", "", "platform: "+strings.Join(templates.Clouds, ", "))
	f.StringVar(&d.Store, "store", "", "idempotency store: "+strings.Join(templates.Stores, ", "))
	f.StringVar(&d.Module, "module", "", `go.mod module path (default "example.com/NAME")`)
	f.StringVar(&dir, "dir", "", "directory to create (default ./NAME)")
	// For eventfn contributors: a replace directive to a checkout of the
	// eventfn repository, so a generated project builds against it (the
	// scaffolding tests use it). Not for users, hence hidden.
	f.StringVar(&replace, "replace", "", "replace github.com/eventfn/eventfn with this directory in go.mod")
	_ = f.MarkHidden("replace")
	_ = cmd.MarkFlagRequired("cloud")
	_ = cmd.MarkFlagRequired("store")
	return cmd
}

// newResult is what eventfn new reports, with --json as it is.
type newResult struct {
	Dir   string   `json:"dir"`
	Cloud string   `json:"cloud"`
	Store string   `json:"store"`
	Files []string `json:"files"`
	Next  []string `json:"next"`
}

func runNew(cmd *cobra.Command, d templates.Data, dir, replace string) error {
	if dir == "" {
		dir = d.Name
	}
	if replace != "" {
		abs, err := filepath.Abs(replace)
		if err != nil {
			return usageErrorf("--replace: %v", err)
		}
		d.Replace = abs
	}
	d.EventfnVersion = eventfnVersion()
	files, err := templates.Render(d)
	switch {
	case errors.Is(err, templates.ErrName), errors.Is(err, templates.ErrModule),
		errors.Is(err, templates.ErrCloud), errors.Is(err, templates.ErrStore):
		return usageErrorf("%v", err)
	case err != nil:
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return fmt.Errorf("%s already exists; eventfn new never overwrites: choose another --dir or remove it", dir)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := writeProject(dir, files); err != nil {
		return err
	}
	res := newResult{Dir: dir, Cloud: d.Cloud, Store: d.Store}
	for _, f := range files {
		res.Files = append(res.Files, filepath.Join(dir, filepath.FromSlash(f.Path)))
	}
	res.Next = []string{"cd " + shellQuote(dir) + " && go mod tidy", "make test", "make invoke"}
	if jsonOutput(cmd) {
		return printJSON(cmd.OutOrStdout(), res)
	}
	printNew(cmd.OutOrStdout(), res)
	return nil
}

// writeProject creates dir, which must not exist, and writes files into it.
// On failure it removes what it created.
func writeProject(dir string, files []templates.File) (err error) {
	if err := os.MkdirAll(filepath.Dir(filepath.Clean(dir)), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; eventfn new never overwrites: choose another --dir or remove it", dir)
		}
		return err
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(dir)
		}
	}()
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, f.Data, f.Mode); err != nil {
			return err
		}
	}
	return nil
}

func printNew(w io.Writer, r newResult) {
	fmt.Fprintf(w, "Created %s (%s, store %s):\n", r.Dir, r.Cloud, r.Store)
	for _, f := range r.Files {
		fmt.Fprintf(w, "  %s\n", f)
	}
	fmt.Fprintln(w, "\nNext:")
	for _, c := range r.Next {
		fmt.Fprintf(w, "  %s\n", c)
	}
}

// eventfnVersion is the eventfn release this binary was built from, which
// generated projects require; empty for a development build, in which case
// `go mod tidy` adds the latest release.
func eventfnVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok || bi.Main.Path != templates.EventfnModule || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return ""
	}
	return bi.Main.Version
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// failureCode gives err exit code 1 unless it carries its own.
func failureCode(err error) error {
	var ee *exitError
	if err == nil || errors.As(err, &ee) {
		return err
	}
	return withCode(exitFailure, err)
}
