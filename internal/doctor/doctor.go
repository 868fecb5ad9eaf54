// Package doctor checks a project's infrastructure files for the settings
// that silently lose or double messages: an SQS event source without
// partial batch responses, a queue without a dead-letter queue, a
// visibility timeout the poller can outlive, dead letters nobody is told
// about or that a stack delete destroys, a Pub/Sub subscription whose
// dead-letter policy cannot work, a Service Bus lock that expires under a
// running function, retries that multiply, an idempotency record that
// expires before the message it guards.
//
// It reads AWS SAM and CloudFormation templates (YAML with the intrinsic
// tags, or JSON), Terraform (.tf), Azure function.json and host.json, and
// Bicep. Bicep is read by a line scanner that understands the shapes of
// the eventfn templates (resource blocks, params with literal defaults,
// var objects); expressions it cannot evaluate are skipped, never guessed.
// Every finding names its file and line; see Rules for the checks. A
// project whose Service Bus queues are declared elsewhere than in Bicep
// gets a note saying their settings were not checked.
package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Severity says whether a finding fails the check.
type Severity string

// Severities of findings.
const (
	Error   Severity = "error"
	Warning Severity = "warning"
)

// Finding is one setting that loses or doubles messages.
type Finding struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	File     string   `json:"file"`
	Line     int      `json:"line"`
	Message  string   `json:"message"`
}

// String formats f as "file:line: severity: message (rule)".
func (f Finding) String() string {
	return fmt.Sprintf("%s:%d: %s: %s (%s)", f.File, f.Line, f.Severity, f.Message, f.Rule)
}

// Report is the result of Check.
type Report struct {
	// Files are the infrastructure files read, in order.
	Files []string `json:"files"`
	// Findings are sorted by file and line.
	Findings []Finding `json:"findings"`
	// Notes say what could not be checked and why.
	Notes []string `json:"notes,omitempty"`
}

// Errors counts the findings of severity Error.
func (r *Report) Errors() int {
	n := 0
	for _, f := range r.Findings {
		if f.Severity == Error {
			n++
		}
	}
	return n
}

// ParseError is returned for a file that cannot be read or parsed.
type ParseError struct {
	File string
	Line int // 0 when unknown
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("doctor: %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("doctor: %s: %v", e.File, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrNothingToCheck is returned when path holds no infrastructure file.
var ErrNothingToCheck = errors.New("doctor: no infrastructure files (template.yaml, *.tf, function.json, host.json, *.bicep)")

// Rule describes one check.
type Rule struct {
	ID       string
	Severity Severity
	Summary  string
}

// Rules lists every check, by ID.
var Rules = []Rule{
	{"sqs-report-batch-item-failures", Error, "an SQS event source without FunctionResponseTypes [ReportBatchItemFailures]: one failed message fails (or, with a partial response, deletes) the whole batch"},
	{"sqs-redrive-policy", Error, "a queue without a redrive policy: a message that always fails is retried until its retention ends, then lost"},
	{"sqs-visibility-timeout", Error, "a visibility timeout under 6x the function timeout: a batch still being handled is delivered again"},
	{"dlq-retention", Error, "a dead-letter queue that keeps messages no longer than its source (SQS keeps a message's original age): dead letters expire unseen"},
	{"dlq-alarm", Error, "a dead-letter queue, topic or subqueue without an alarm or alert on it"},
	{"dlq-deletion-policy", Error, "a dead-letter queue without DeletionPolicy and UpdateReplacePolicy Retain: deleting or replacing the stack destroys the dead letters"},
	{"fifo-batch-window", Error, "a FIFO queue's event source with a batching window and no partial batch responses: one failure fails the rest of every message group in the batch"},
	{"pubsub-dead-letter-policy", Error, "a Pub/Sub subscription without a dead-letter policy: a message that always fails is redelivered until retention ends"},
	{"pubsub-dead-letter-iam", Error, "a dead-letter policy without the Pub/Sub service agent's publisher role on the dead-letter topic and subscriber role on the subscription: nothing is forwarded"},
	{"function-retry", Error, "an event-triggered Cloud Function without retries: a failed event is dropped"},
	{"dead-letter-topic-subscription", Error, "a dead-letter topic without a subscription: dead letters are dropped"},
	{"servicebus-max-delivery-count", Error, "a Service Bus queue (Bicep) without maxDeliveryCount: the default applies unseen"},
	{"servicebus-lock-duration", Error, "a lock duration, with the host's automatic renewal, shorter than the function timeout: a running message is delivered again"},
	{"retry-layers", Warning, "retries configured in two layers, a Functions retry policy (host.json or function.json) on a Service Bus trigger: attempts multiply"},
	{"idempotency-ttl", Error, "an idempotency TTL shorter than the queue's retention: a copy delivered after the record expired runs again"},
}

// Check reads the infrastructure files at path (a file, or a directory
// searched recursively, skipping dot directories, vendor, node_modules and
// testdata) and returns the findings. A file that cannot be read or parsed
// is a *ParseError. Check is safe for concurrent use.
func Check(path string) (*Report, error) {
	var paths []string
	info, err := os.Stat(path)
	if err != nil {
		return nil, &ParseError{File: path, Err: err}
	}
	if info.IsDir() {
		err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return &ParseError{File: p, Err: err}
			}
			if d.IsDir() {
				n := d.Name()
				if p != path && (strings.HasPrefix(n, ".") || n == "vendor" || n == "node_modules" || n == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if kindOf(p) != "" {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	} else {
		paths = []string{path}
	}
	p := &project{}
	for _, f := range paths {
		if err := p.read(f, !info.IsDir()); err != nil {
			return nil, err
		}
	}
	if len(p.files) == 0 {
		return nil, ErrNothingToCheck
	}
	r := &Report{Files: p.files, Notes: p.notes}
	r.Findings = append(r.Findings, p.checkCFN()...)
	r.Findings = append(r.Findings, p.checkTerraform()...)
	r.Findings = append(r.Findings, p.checkAzure()...)
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	r.Notes = p.notes
	return r, nil
}

// kindOf classifies a file by its name: "cfn" (a candidate CloudFormation
// template, confirmed by its content), "tf", "bicep", "function", "host",
// "settings", or "" for a file doctor does not read.
func kindOf(p string) string {
	base := filepath.Base(p)
	switch {
	case base == "function.json":
		return "function"
	case base == "host.json":
		return "host"
	case base == "local.settings.json" || base == "local.settings.json.template":
		return "settings"
	case strings.HasSuffix(base, ".tf"):
		return "tf"
	case strings.HasSuffix(base, ".bicep"):
		return "bicep"
	case strings.HasSuffix(base, ".yaml"), strings.HasSuffix(base, ".yml"),
		strings.HasSuffix(base, ".template"), strings.HasSuffix(base, ".json"):
		return "cfn"
	}
	return ""
}

// project is everything read from the files of one Check.
type project struct {
	files     []string
	notes     []string
	cfn       []*cfnTemplate
	tf        []*tfFile
	functions []*azFunction
	hosts     []*azHost
	bicep     []*bicepFile
	settings  []*azSettings
}

func (p *project) read(path string, explicit bool) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return &ParseError{File: path, Err: err}
	}
	switch kindOf(path) {
	case "cfn":
		t, err := parseCFN(path, b)
		if err != nil {
			return err
		}
		if t == nil { // YAML or JSON, but no template
			if explicit {
				return &ParseError{File: path, Err: errors.New("not a CloudFormation template: no Resources")}
			}
			return nil
		}
		p.cfn = append(p.cfn, t)
	case "tf":
		f, err := parseTerraform(path, b)
		if err != nil {
			return err
		}
		p.tf = append(p.tf, f)
	case "function":
		f, err := parseFunctionJSON(path, b)
		if err != nil {
			return err
		}
		p.functions = append(p.functions, f)
	case "host":
		h, err := parseHostJSON(path, b)
		if err != nil {
			return err
		}
		p.hosts = append(p.hosts, h)
	case "settings":
		s, err := parseSettings(path, b)
		if err != nil {
			return err
		}
		p.settings = append(p.settings, s)
	case "bicep":
		p.bicep = append(p.bicep, parseBicep(path, b))
	default:
		return &ParseError{File: path, Err: errors.New("not an infrastructure file doctor reads")}
	}
	p.files = append(p.files, path)
	return nil
}

func finding(rule, file string, line int, format string, a ...any) Finding {
	sev := Error
	for _, r := range Rules {
		if r.ID == rule {
			sev = r.Severity
		}
	}
	return Finding{Rule: rule, Severity: sev, File: file, Line: line, Message: fmt.Sprintf(format, a...)}
}
