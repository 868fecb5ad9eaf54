// Package templates holds the project templates of `eventfn new`: a common
// part (handler, handler test, README, Makefile, .gitignore, sample events)
// and one part per cloud (aws, gcp, azure) with its main package and its
// infrastructure. They are embedded in the eventfn binary and rendered with
// text/template.
//
// A template file's path is the generated file's path with ".tmpl"
// appended; a leading "_" in a file name stands for "." (embed skips dot
// files), and a directory named "_fn_" is rendered once per Azure function,
// under the function's name. Files whose name starts with "_partials" hold
// only {{define}} blocks shared with the common part.
//
// The examples in this repository keep the infrastructure files these
// templates render (Examples lists their data), so one set is maintained:
// after changing a template, run
//
//	go test ./templates -run TestExamplesAreGenerated -update
//
// For contributors: `eventfn new --replace DIR` (a hidden flag) writes a
// go.mod that replaces eventfn with the checkout in DIR, which is how the
// tests build generated projects against the code they test.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"go/format"
	"go/token"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"text/template"
	"unicode"

	"golang.org/x/mod/module"
)

//go:embed all:common all:aws all:gcp all:azure
var files embed.FS

// Clouds are the values Data.Cloud accepts.
var Clouds = []string{"aws", "gcp", "azure"}

// Stores are the values Data.Store accepts.
var Stores = []string{"redis", "dynamodb", "memory"}

// EventfnModule is the module path of eventfn, which generated projects
// require.
const EventfnModule = "github.com/eventfn/eventfn"

// Data is what a project is rendered from. The zero value of every optional
// field selects the default a new project gets.
type Data struct {
	// Name is the project's name: lowercase letters, digits and inner
	// hyphens, 2 to 30 characters (see CheckName). Resource names derive
	// from it.
	Name string
	// Module is the generated go.mod's module path, checked with
	// golang.org/x/mod/module.CheckPath. Default: "example.com/" + Name.
	Module string
	// Cloud is aws, gcp or azure.
	Cloud string
	// Store is the idempotency store: redis, dynamodb (aws only) or memory.
	Store string
	// EventfnVersion is the version of eventfn go.mod requires. Default:
	// none, and `go mod tidy` adds the latest.
	EventfnVersion string
	// Replace, when set, is the directory go.mod replaces eventfn with: for
	// contributors testing generated projects against their checkout.
	Replace string
	// GoVersion is go.mod's go directive. Default: DefaultGoVersion.
	GoVersion string

	// Entry is the function's name in the platform: the GCP entry point and
	// the Azure function. Default: Ident.
	Entry string
	// Env is extra environment of the deployed function (infrastructure
	// only), as NAME=value pairs in order.
	Env []string
	// Functions are the Azure functions (folders with a function.json).
	// Default: one, named Entry, on the project's queue.
	Functions []AzureFunction
	// RejectedSetting is the Azure app setting naming the parking queue of
	// rejected messages. Default: "EVENTFN_REJECTED_QUEUE".
	RejectedSetting string
	// RejectedQueue is the parking queue's name. Default: Name + "-rejected".
	RejectedQueue string
}

// AzureFunction is one Azure function of a project: a folder with a
// function.json whose serviceBusTrigger reads a queue.
type AzureFunction struct {
	// Name is the function's folder and route.
	Name string
	// Binding is the trigger binding's name. Default: "message".
	Binding string
	// QueueSetting is the app setting that names the queue.
	QueueSetting string
	// Queue is the queue's name.
	Queue string
	// Many selects "cardinality": "many" (a batch per invocation).
	Many bool
}

// DefaultGoVersion is the go directive of generated projects.
const DefaultGoVersion = "1.26.8"

// File is one rendered file.
type File struct {
	Path string // slash-separated, relative to the project directory
	Data []byte
	Mode fs.FileMode
}

// Errors of Render and the checks.
var (
	ErrName   = errors.New("templates: invalid project name")
	ErrModule = errors.New("templates: invalid module path")
	ErrCloud  = errors.New("templates: unknown cloud")
	ErrStore  = errors.New("templates: unknown store")
)

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9]*(-[a-z0-9]+)*$`)

// CheckName reports whether name can name a project: 2 to 30 lowercase
// letters, digits and single inner hyphens, starting with a letter, so that
// it is valid as a Lambda function, queue, Pub/Sub topic, Cloud Run service
// and Azure resource name prefix.
func CheckName(name string) error {
	if len(name) < 2 || len(name) > 30 || !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use 2 to 30 lowercase letters, digits and single hyphens, starting with a letter", ErrName, name)
	}
	return nil
}

// CheckModule reports whether path is a valid module path.
func CheckModule(path string) error {
	if err := module.CheckPath(path); err != nil {
		return fmt.Errorf("%w: %w", ErrModule, err)
	}
	return nil
}

func (d Data) withDefaults() (Data, error) {
	if err := CheckName(d.Name); err != nil {
		return d, err
	}
	if d.Module == "" {
		d.Module = "example.com/" + d.Name
	}
	if err := CheckModule(d.Module); err != nil {
		return d, err
	}
	if !contains(Clouds, d.Cloud) {
		return d, fmt.Errorf("%w %q: want one of %s", ErrCloud, d.Cloud, strings.Join(Clouds, ", "))
	}
	if !contains(Stores, d.Store) {
		return d, fmt.Errorf("%w %q: want one of %s", ErrStore, d.Store, strings.Join(Stores, ", "))
	}
	if d.Store == "dynamodb" && d.Cloud != "aws" {
		return d, fmt.Errorf("%w %q on %s: DynamoDB is an AWS service; use redis or memory", ErrStore, d.Store, d.Cloud)
	}
	if d.GoVersion == "" {
		d.GoVersion = DefaultGoVersion
	}
	if d.Entry == "" {
		d.Entry = d.Ident()
	}
	if len(d.Functions) == 0 {
		d.Functions = []AzureFunction{{Name: d.Entry, QueueSetting: "EVENTFN_QUEUE", Queue: d.Name}}
	}
	if d.RejectedSetting == "" {
		d.RejectedSetting = "EVENTFN_REJECTED_QUEUE"
	}
	if d.RejectedQueue == "" {
		d.RejectedQueue = d.Name + "-rejected"
	}
	for i := range d.Functions {
		if d.Functions[i].Binding == "" {
			d.Functions[i].Binding = "message"
		}
	}
	return d, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Ident is Name in CamelCase ("order-events" → "OrderEvents"): CloudFormation
// logical IDs and Go names derive from it.
func (d Data) Ident() string {
	var b strings.Builder
	for _, part := range strings.Split(d.Name, "-") {
		if part == "" {
			continue
		}
		r := []rune(part)
		r[0] = unicode.ToUpper(r[0])
		b.WriteString(string(r))
	}
	return b.String()
}

// Package is the Go package name of the project's root package: main on
// AWS and Azure; on GCP, where Cloud Functions build a library package,
// Name without hyphens, with "fn" appended when that is a Go keyword or
// "main".
func (d Data) Package() string {
	if d.Cloud != "gcp" {
		return "main"
	}
	p := strings.ReplaceAll(d.Name, "-", "")
	if token.IsKeyword(p) || p == "main" {
		p += "fn"
	}
	return p
}

// Compact is Name without hyphens, for resources that allow only letters
// and digits (Azure storage accounts).
func (d Data) Compact() string { return strings.ReplaceAll(d.Name, "-", "") }

// EnvVar is one of Data.Env split into its name and value.
type EnvVar struct{ Name, Value string }

// EnvVars returns Data.Env split into names and values.
func (d Data) EnvVars() []EnvVar {
	out := make([]EnvVar, 0, len(d.Env))
	for _, kv := range d.Env {
		k, v, _ := strings.Cut(kv, "=")
		out = append(out, EnvVar{k, v})
	}
	return out
}

// Render renders the project d describes. It validates d first: see
// CheckName, CheckModule, Clouds and Stores. Go files come out gofmt'ed.
// Render is safe for concurrent use.
func Render(d Data) ([]File, error) {
	d, err := d.withDefaults()
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	}
	var partials []string
	for _, dir := range []string{"common", d.Cloud} {
		ps, _ := fs.Glob(files, dir+"/_partials*.tmpl")
		partials = append(partials, ps...)
	}
	var out []File
	for _, dir := range []string{"common", d.Cloud} {
		err := fs.WalkDir(files, dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || strings.HasPrefix(path.Base(p), "_partials") {
				return err
			}
			rel := strings.TrimSuffix(strings.TrimPrefix(p, dir+"/"), ".tmpl")
			src, err := files.ReadFile(p)
			if err != nil {
				return err
			}
			t, err := template.New(p).Funcs(funcs).Option("missingkey=error").Parse(string(src))
			if err == nil && len(partials) > 0 {
				_, err = t.ParseFS(files, partials...)
			}
			if err != nil {
				return fmt.Errorf("templates: %s: %w", p, err)
			}
			type fnData struct {
				Data
				Fn AzureFunction
			}
			runs := []fnData{{Data: d}}
			if strings.Contains(rel, "_fn_/") {
				runs = runs[:0]
				for _, fn := range d.Functions {
					runs = append(runs, fnData{Data: d, Fn: fn})
				}
			}
			for _, run := range runs {
				var buf bytes.Buffer
				if err := t.Execute(&buf, run); err != nil {
					return fmt.Errorf("templates: %s: %w", p, err)
				}
				name := strings.Replace(rel, "_fn_", run.Fn.Name, 1)
				b := buf.Bytes()
				if strings.HasSuffix(name, ".go") {
					if b, err = format.Source(b); err != nil {
						return fmt.Errorf("templates: %s: generated Go does not parse: %w", p, err)
					}
				}
				out = append(out, File{Path: dotName(name), Data: b, Mode: mode(name)})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// dotName turns a leading "_" of the file name into ".".
func dotName(p string) string {
	dir, base := path.Split(p)
	if strings.HasPrefix(base, "_") {
		base = "." + base[1:]
	}
	return dir + base
}

func mode(p string) fs.FileMode {
	if strings.HasSuffix(p, ".sh") {
		return 0o755
	}
	return 0o644
}
