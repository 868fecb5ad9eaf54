package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// invokeOptions are eventfn invoke's flags.
type invokeOptions struct {
	platform string
	kind     string
	url      string
	event    string
	build    string
	arch     string
	env      []string
	timeout  time.Duration
	quiet    bool
	spec     eventSpec
}

const invokeLong = `Posts a platform event to a function running locally and prints what
happened to each message, read from the function's answer:

  aws    the Lambda Runtime Interface Emulator's invocations URL
         (default http://127.0.0.1:8080/2015-03-31/functions/function/invocations);
         the response's batchItemFailures say which messages are retried
  gcp    a Functions Framework function or a Pub/Sub push endpoint
         (default http://127.0.0.1:8080/FUNCTION); one request per message, its
         HTTP status says acked (2xx), retried (5xx) or rejected (4xx)
  azure  an Azure Functions custom handler with a serviceBusTrigger
         (default http://127.0.0.1:$FUNCTIONS_CUSTOMHANDLER_PORT/FUNCTION, port
         8080 when unset); the status and the response's Logs say each outcome

The event comes from --event FILE (- for stdin), as "eventfn event" prints it,
or is built from bodies given as arguments, --file or stdin with the same flags
as "eventfn event" (--kind picks the event: sqs, sns or sns-sqs on aws;
pubsub-push or cloudevent on gcp; servicebus on azure).

--build PKG builds the package (a directory, built from inside it so a nested
module uses its own go.mod, or an import path) and runs it for the duration
of the invocation, as "sam local invoke -e" does: on aws as a Lambda bootstrap
(GOOS=linux, CGO_ENABLED=0, -tags lambda.norpc, stripped) under aws-lambda-rie,
found through $EVENTFN_RIE_BIN, PATH or $(go env GOPATH)/bin and go-installed
when missing; on gcp with PORT and HOST set (Functions Framework); on azure
with FUNCTIONS_CUSTOMHANDLER_PORT set. --env adds variables to its environment
on top of eventfn's own; its output goes to stderr.

Outcomes: acked; retried (the platform redelivers it and dead-letters it after
its delivery limit); rejected (failed permanently; the platform's dead-letter
policy takes it after the delivery limit); dead-lettered (the function moved it
to a dead-letter destination itself and acknowledged it). eventfn invoke exits 3
when any message was not acked.`

func newInvokeCmd() *cobra.Command {
	o := &invokeOptions{}
	cmd := &cobra.Command{
		Use:   "invoke --platform aws|gcp|azure [--url URL] [--event FILE|-] [--build PKG] [BODY...]",
		Short: "Post a platform event to a function running locally and print each message's outcome",
		Long:  invokeLong,
		Example: `  eventfn event sqs '{"id":"o-1","amount_cents":100}' > event.json
  eventfn invoke --platform aws --event event.json
  eventfn invoke --platform aws --build ./examples/aws-sqs --env EVENTFN_REDIS_URL=redis://127.0.0.1:6379/0 '{"id":"o-1","amount_cents":100}'
  eventfn invoke --platform gcp --url http://127.0.0.1:8080/OrderPlacedPush '{"id":"o-1","amount_cents":100}'
  eventfn invoke --platform azure --function ProcessOrderBatch --many --file orders.jsonl`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.platform, "platform", "p", "", "aws, gcp or azure (required)")
	f.StringVar(&o.kind, "kind", "", "event kind: sqs (default), sns, sns-sqs on aws; pubsub-push (default), cloudevent on gcp")
	f.StringVar(&o.url, "url", "", "the function's URL (default: see above; with --build, the started function's)")
	f.StringVarP(&o.event, "event", "e", "", "post this event `FILE` (- for stdin) instead of building one")
	f.StringVar(&o.build, "build", "", "build and run this `PKG` for the invocation")
	f.StringVar(&o.arch, "arch", "", "GOARCH of the Lambda bootstrap with --build (default: this machine's, so RIE can run it)")
	f.StringArrayVar(&o.env, "env", nil, "`NAME=value` for the --build function's environment (repeatable)")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "give up on the invocation after this long (also the Lambda timeout under RIE)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "do not copy the --build function's output to stderr")
	f.StringVar(&o.spec.function, "function", "", "function name: the URL path on gcp (default /) and azure (default ProcessOrder)")
	o.spec.addFlags(cmd, "all")
	cmd.MarkFlagRequired("platform")
	cmd.RegisterFlagCompletionFunc("platform", cobra.FixedCompletions([]string{"aws", "gcp", "azure"}, cobra.ShellCompDirectiveNoFileComp))
	cmd.RegisterFlagCompletionFunc("kind", cobra.FixedCompletions([]string{"sqs", "sns", "sns-sqs", "pubsub-push", "cloudevent", "servicebus"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

var platformKinds = map[string][]string{
	"aws":   {"sqs", "sns", "sns-sqs"},
	"gcp":   {"pubsub-push", "cloudevent"},
	"azure": {"servicebus"},
}

func (o *invokeOptions) validate() error {
	kinds, ok := platformKinds[o.platform]
	if !ok {
		return usageErrorf("--platform must be aws, gcp or azure, not %q", o.platform)
	}
	if o.kind == "" {
		o.kind = kinds[0]
	}
	found := false
	for _, k := range kinds {
		found = found || k == o.kind
	}
	if !found {
		return usageErrorf("--kind %s is not an event of --platform %s (want one of %s)", o.kind, o.platform, strings.Join(kinds, ", "))
	}
	if o.platform == "azure" && o.spec.function == "" {
		o.spec.function = "ProcessOrder"
	}
	if o.build != "" && o.url != "" {
		return usageErrorf("--build runs the function on its own port: do not give --url")
	}
	if o.timeout <= 0 {
		return usageErrorf("--timeout must be positive")
	}
	return nil
}

func (o *invokeOptions) run(cmd *cobra.Command, args []string) error {
	if err := o.validate(); err != nil {
		return err
	}
	payload, err := o.payload(args, cmd.InOrStdin())
	if err != nil {
		return err
	}
	target := o.url
	var fn *localFunction
	if o.build != "" {
		stderr := &lockedWriter{w: cmd.ErrOrStderr()}
		var out io.Writer = stderr
		if o.quiet {
			out = io.Discard
		}
		fn, err = startLocalFunction(cmd.Context(), o, out, stderr)
		if err != nil {
			return err
		}
		defer fn.stop()
		target = fn.url
	}
	if target == "" {
		target = o.defaultURL()
	} else if o.platform == "azure" {
		target = withFunctionPath(target, o.spec.function)
	}
	// The timeout bounds the invocation, not the build.
	ctx, cancel := context.WithTimeout(cmd.Context(), o.timeout)
	defer cancel()
	var res *invokeResult
	switch o.platform {
	case "aws":
		res, err = invokeLambda(ctx, target, payload)
	case "gcp":
		res, err = invokeGCP(ctx, target, payload)
	case "azure":
		res, err = invokeServiceBus(ctx, target, payload)
	}
	if err != nil {
		if fn != nil {
			err = fmt.Errorf("%w\nfunction output:\n%s", err, fn.logs.tail(4000))
		}
		return err
	}
	res.Platform, res.URL = o.platform, target
	if fn != nil {
		res.addReasonsFromLog(fn.logs.String())
	}
	res.count()
	if err := printResult(cmd, res, res.writeText); err != nil {
		return err
	}
	if res.NotAcked > 0 {
		return withCode(exitNotAcked, errSilent)
	}
	return nil
}

// payload returns the event to post: --event's file, or one built from the
// bodies.
func (o *invokeOptions) payload(args []string, stdin io.Reader) ([]byte, error) {
	if o.event == "" {
		v, err := o.spec.build(o.kind, args, stdin)
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	if len(args) > 0 || o.spec.file != "" {
		return nil, usageErrorf("give the event with --event or bodies to build one from, not both")
	}
	var b []byte
	var err error
	if o.event == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, maxInputBytes))
	} else {
		b, err = os.ReadFile(o.event)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the event: %w", err)
	}
	if !json.Valid(b) {
		return nil, fmt.Errorf("event %s is not JSON", o.event)
	}
	return b, nil
}

func (o *invokeOptions) defaultURL() string {
	switch o.platform {
	case "aws":
		return "http://127.0.0.1:8080/2015-03-31/functions/function/invocations"
	case "gcp":
		return "http://127.0.0.1:8080/" + o.spec.function
	}
	port := os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT")
	if port == "" {
		port = "8080"
	}
	return "http://127.0.0.1:" + port + "/" + o.spec.function
}

// withFunctionPath adds /function to a custom handler URL without a path.
func withFunctionPath(raw, function string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return raw
	}
	u.Path = "/" + function
	return u.String()
}

// invokeResult is what eventfn invoke reports.
type invokeResult struct {
	Platform      string          `json:"platform"`
	URL           string          `json:"url"`
	Status        int             `json:"status"`
	FunctionError string          `json:"function_error,omitempty"`
	Messages      []invokeOutcome `json:"messages"`
	Acked         int             `json:"acked"`
	NotAcked      int             `json:"not_acked"`
}

// invokeOutcome is one message's end.
type invokeOutcome struct {
	ID      string `json:"id"`
	Outcome string `json:"outcome"` // acked, retried, rejected, dead-lettered
	Reason  string `json:"reason,omitempty"`
}

const (
	outcomeAcked        = "acked"
	outcomeRetried      = "retried"
	outcomeRejected     = "rejected"
	outcomeDeadLettered = "dead-lettered"
)

func (r *invokeResult) count() {
	r.Acked, r.NotAcked = 0, 0
	for _, m := range r.Messages {
		if m.Outcome == outcomeAcked || m.Outcome == outcomeDeadLettered {
			r.Acked++
		} else {
			r.NotAcked++
		}
	}
}

func (r *invokeResult) writeText(w io.Writer) error {
	fmt.Fprintf(w, "eventfn invoke: %s %s: %d message(s), %d acked, %d not acked\n", r.Platform, r.URL, len(r.Messages), r.Acked, r.NotAcked)
	if r.FunctionError != "" {
		fmt.Fprintf(w, "function error: %s\n", r.FunctionError)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE\tOUTCOME\tREASON")
	for _, m := range r.Messages {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", m.ID, m.Outcome, m.Reason)
	}
	return tw.Flush()
}

// addReasonsFromLog gives each message that was not acked and has no
// specific reason the last line of the function's log that names its ID.
func (r *invokeResult) addReasonsFromLog(log string) {
	lines := strings.Split(log, "\n")
	for i := range r.Messages {
		m := &r.Messages[i]
		if m.Outcome == outcomeAcked || m.ID == "" {
			continue
		}
		for j := len(lines) - 1; j >= 0; j-- {
			if strings.Contains(lines[j], m.ID) {
				m.Reason = strings.TrimSpace(m.Reason + "; log: " + truncateText(strings.TrimSpace(lines[j]), 400))
				break
			}
		}
	}
}

func truncateText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// post sends body to target and returns the response status and body.
func post(ctx context.Context, target string, body []byte, header http.Header) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return nil, nil, usageErrorf("--url %q: %v", target, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("no answer from %s within --timeout: %w", target, err)
		}
		return nil, nil, fmt.Errorf("cannot reach the function at %s: %w (is it running? start it, give its --url, or use --build)", target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the answer of %s: %w", target, err)
	}
	return resp, b, nil
}
