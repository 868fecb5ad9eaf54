package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus/admin"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	gpubsub "cloud.google.com/go/pubsub/v2"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/pubsubdlq"
	"github.com/eventfn/eventfn/dlq/rabbitdlq"
	"github.com/eventfn/eventfn/dlq/sbdlq"
	"github.com/eventfn/eventfn/dlq/sqsdlq"
)

const dlqLong = `List, peek at and redrive dead letters back to their source.

URLs:
  awssqs://HOST/ACCOUNT/QUEUE  an SQS queue (an http(s):// queue URL works too);
                               "awssqs://" alone lists every dead-letter queue.
                               AWS_ENDPOINT_URL_SQS points the SDK at an emulator.
  gcppubsub://projects/P/subscriptions/S
                               a Pub/Sub dead-letter subscription;
                               "gcppubsub://projects/P" lists a project's.
                               PUBSUB_EMULATOR_HOST points the client at an emulator.
  rabbit://QUEUE               a RabbitMQ dead-letter queue on RABBIT_SERVER_URL.
  azuresb://QUEUE              a Service Bus queue's $deadletterqueue
  azuresb://TOPIC?subscription=SUB
                               a subscription's; "azuresb://" lists the queues.
                               SERVICEBUS_CONNECTION_STRING names the namespace.

A redrive sends each message to its source and deletes the dead letter only
after the broker confirmed the copy; Ctrl-C finishes the message in hand,
prints the counts and leaves everything else where it was. Every copy
carries the eventfn-message-id attribute, so idempotency absorbs a copy
that a crash duplicated.`

// newDLQCmd builds "eventfn dlq".
func newDLQCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "dlq",
		Short: "list, peek at and redrive dead letters",
		Long:  dlqLong,
		// An unknown subcommand is a usage error, not a silent help page.
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return fmt.Errorf("dlq: unknown command %q; use ls, peek or redrive", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	c.AddCommand(newDLQLsCmd(), newDLQPeekCmd(), newDLQRedriveCmd())
	return c
}

// addTimeoutFlag adds --timeout, which bounds the calls that open a queue
// and look it up, so an unreachable broker is an error, not a hang.
func addTimeoutFlag(c *cobra.Command) *time.Duration {
	return c.Flags().Duration("timeout", 30*time.Second, "bound on connecting to the broker and looking the queue up")
}

var dlqSchemes = []string{"awssqs", "http", "https", "gcppubsub", "rabbit", "azuresb"}

// parseDLQURL parses a dead-letter URL and checks its scheme.
func parseDLQURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("dlq: bad URL %q: %w", raw, err)
	}
	for _, s := range dlqSchemes {
		if u.Scheme == s {
			return u, nil
		}
	}
	return nil, fmt.Errorf("dlq: unknown URL scheme %q in %q; use awssqs://, gcppubsub://, rabbit:// or azuresb:// (see eventfn dlq --help)", u.Scheme, raw)
}

// urlArgs validates the URL arguments before the command runs, so a bad
// one is a usage error.
func urlArgs(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || (max >= 0 && len(args) > max) {
			if min == max {
				return fmt.Errorf("dlq: want %d URL argument(s), got %d", min, len(args))
			}
			return fmt.Errorf("dlq: want at least %d URL argument(s), got %d", min, len(args))
		}
		for _, a := range args {
			if _, err := parseDLQURL(a); err != nil {
				return err
			}
		}
		return nil
	}
}

// endpointHint names the variable that points a scheme's client at a broker.
func endpointHint(scheme string) string {
	switch scheme {
	case "awssqs", "http", "https":
		return "AWS_ENDPOINT_URL_SQS (for an emulator) and AWS_REGION"
	case "gcppubsub":
		return "PUBSUB_EMULATOR_HOST (for an emulator) or Google credentials"
	case "rabbit":
		return "RABBIT_SERVER_URL"
	case "azuresb":
		return "SERVICEBUS_CONNECTION_STRING"
	}
	return ""
}

// brokerError names the URL and the variable to check on errors that are
// not about the queue's contents.
func brokerError(raw string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, dlq.ErrNoSource) {
		return err
	}
	u, _ := url.Parse(raw)
	scheme := ""
	if u != nil {
		scheme = u.Scheme
	}
	if errors.Is(err, dlq.ErrNotFound) {
		return fmt.Errorf("%s: %w (does it exist on the broker %s points at?)", raw, err, endpointHint(scheme))
	}
	return fmt.Errorf("%s: %w (check that the broker is reachable; set %s)", raw, err, endpointHint(scheme))
}

// sqsQueueURL turns awssqs://HOST/ACCOUNT/QUEUE into the https queue URL;
// http(s) URLs are queue URLs already.
func sqsQueueURL(u *url.URL) string {
	if u.Scheme == "awssqs" {
		v := *u
		v.Scheme, v.RawQuery = "https", ""
		return v.String()
	}
	return u.String()
}

func sqsClient(ctx context.Context, u *url.URL) (*sqs.Client, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if r := u.Query().Get("region"); r != "" {
		opts = append(opts, awsconfig.WithRegion(r))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("dlq: AWS config: %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("dlq: no AWS region: set AWS_REGION or add ?region= to the URL")
	}
	return sqs.NewFromConfig(cfg), nil // the SDK honours AWS_ENDPOINT_URL_SQS
}

// pubsubName returns the resource path of a gcppubsub:// URL or a bare
// projects/... name.
func pubsubName(raw string) string {
	return strings.TrimPrefix(raw, "gcppubsub://")
}

func pubsubClient(ctx context.Context, name string) (*gpubsub.Client, error) {
	parts := strings.Split(name, "/")
	if len(parts) < 2 || parts[0] != "projects" || parts[1] == "" {
		return nil, fmt.Errorf("dlq: %q does not start with projects/PROJECT", name)
	}
	c, err := gpubsub.NewClient(ctx, parts[1])
	if err != nil {
		return nil, fmt.Errorf("dlq: Pub/Sub client: %w", err)
	}
	return c, nil
}

func rabbitConn() (*amqp.Connection, error) {
	s := os.Getenv("RABBIT_SERVER_URL")
	if s == "" {
		return nil, errors.New("dlq: RABBIT_SERVER_URL is not set (amqp://USER:PASSWORD@HOST:PORT/)")
	}
	c, err := amqp.Dial(s)
	if err != nil {
		return nil, fmt.Errorf("dlq: dial RABBIT_SERVER_URL: %w", err)
	}
	return c, nil
}

func serviceBus() (*azservicebus.Client, *admin.Client, error) {
	cs := os.Getenv("SERVICEBUS_CONNECTION_STRING")
	if cs == "" {
		return nil, nil, errors.New("dlq: SERVICEBUS_CONNECTION_STRING is not set")
	}
	c, err := azservicebus.NewClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dlq: Service Bus client: %w", err)
	}
	a, err := admin.NewClientFromConnectionString(cs, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("dlq: Service Bus admin client: %w", err)
	}
	return c, a, nil
}

// openedDLQ is a driver with what closes its clients.
type openedDLQ struct {
	d       dlq.Driver
	sqs     *sqsdlq.Driver // set for SQS, for native move tasks
	sources func(ctx context.Context) ([]string, error)
	closers []func() error
}

func (o *openedDLQ) Close() {
	for i := len(o.closers) - 1; i >= 0; i-- {
		_ = o.closers[i]()
	}
}

// openDLQ opens the dead-letter queue at raw; to, if set, overrides the
// redrive target.
func openDLQ(ctx context.Context, raw, to string, lease time.Duration) (*openedDLQ, error) {
	u, err := parseDLQURL(raw)
	if err != nil {
		return nil, err
	}
	o := &openedDLQ{}
	switch u.Scheme {
	case "awssqs", "http", "https":
		c, err := sqsClient(ctx, u)
		if err != nil {
			return nil, err
		}
		opts := &sqsdlq.Options{VisibilityTimeout: lease}
		if to != "" {
			tu, err := url.Parse(to)
			if err != nil {
				return nil, fmt.Errorf("dlq: bad --to %q: %w", to, err)
			}
			opts.Source = sqsQueueURL(tu)
		}
		d, err := sqsdlq.Open(ctx, c, sqsQueueURL(u), opts)
		if err != nil {
			return nil, err
		}
		o.d, o.sqs, o.sources = d, d, d.Sources
	case "gcppubsub":
		name := pubsubName(raw)
		c, err := pubsubClient(ctx, name)
		if err != nil {
			return nil, err
		}
		o.closers = append(o.closers, c.Close)
		d, err := pubsubdlq.Open(ctx, c, name, &pubsubdlq.Options{Topic: pubsubName(to), Lease: lease})
		if err != nil {
			o.Close()
			return nil, err
		}
		o.d, o.sources = d, d.Sources
	case "rabbit":
		conn, err := rabbitConn()
		if err != nil {
			return nil, err
		}
		o.closers = append(o.closers, conn.Close)
		opts := &rabbitdlq.Options{}
		if to != "" {
			tu, err := url.Parse(to)
			if err != nil || tu.Scheme != "rabbit" {
				o.Close()
				return nil, fmt.Errorf("dlq: --to %q is not rabbit://QUEUE or rabbit://EXCHANGE?routing_key=KEY", to)
			}
			if k, ok := tu.Query()["routing_key"]; ok {
				opts.Exchange, opts.RoutingKey = tu.Host+tu.Path, k[0]
			} else {
				opts.RoutingKey = tu.Host + tu.Path
			}
		}
		d, err := rabbitdlq.Open(ctx, conn, u.Host+u.Path, opts)
		if err != nil {
			o.Close()
			return nil, err
		}
		o.closers = append(o.closers, d.Close)
		o.d = d
	case "azuresb":
		c, a, err := serviceBus()
		if err != nil {
			return nil, err
		}
		o.closers = append(o.closers, func() error { return c.Close(context.Background()) })
		var d *sbdlq.Driver
		if sub := u.Query().Get("subscription"); sub != "" {
			d, err = sbdlq.OpenSubscription(c, u.Host, sub)
		} else {
			d, err = sbdlq.OpenQueue(c, a, u.Host)
		}
		if err != nil {
			o.Close()
			return nil, err
		}
		o.closers = append(o.closers, d.Close)
		o.d = d
	}
	return o, nil
}

func newDLQLsCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "ls URL...",
		Short: "list dead-letter queues with their depth and sources",
		Long: `List dead-letter queues with their depth (-1: the broker does not report
it) and the queues or subscriptions that dead-letter into them.

  eventfn dlq ls awssqs://                   every SQS dead-letter queue
  eventfn dlq ls 'awssqs://?prefix=orders'   those whose name starts with orders
  eventfn dlq ls gcppubsub://projects/P      a project's dead-letter subscriptions
  eventfn dlq ls rabbit://orders-dead        the named RabbitMQ queues
  eventfn dlq ls azuresb://                  a namespace's queues`,
		Args: urlArgs(1, -1),
	}
	timeout := addTimeoutFlag(c)
	c.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		var all []dlq.Queue
		for _, raw := range args {
			qs, err := listDLQ(ctx, raw)
			if err != nil {
				return brokerError(raw, err)
			}
			all = append(all, qs...)
		}
		if all == nil {
			all = []dlq.Queue{}
		}
		if jsonOutput(cmd) {
			return printJSON(cmd.OutOrStdout(), all)
		}
		w := cmd.OutOrStdout()
		fmt.Fprintf(w, "%-8s %-40s %s\n", "DEPTH", "QUEUE", "SOURCES")
		for _, q := range all {
			fmt.Fprintf(w, "%-8d %-40s %s\n", q.Depth, q.URL, strings.Join(q.Sources, ","))
		}
		return nil
	}
	return c
}

func listDLQ(ctx context.Context, raw string) ([]dlq.Queue, error) {
	u, err := parseDLQURL(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "awssqs", "http", "https":
		c, err := sqsClient(ctx, u)
		if err != nil {
			return nil, err
		}
		qs, err := sqsdlq.List(ctx, c, u.Query().Get("prefix"))
		if err != nil {
			return nil, err
		}
		if u.Host != "" && u.Path != "" { // one queue asked for
			want := sqsQueueURL(u)
			name := want[strings.LastIndex(want, "/")+1:]
			var out []dlq.Queue
			for _, q := range qs {
				if q.URL == want || q.Name == name {
					out = append(out, q)
				}
			}
			return out, nil
		}
		return qs, nil
	case "gcppubsub":
		name := pubsubName(raw)
		c, err := pubsubClient(ctx, name)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return pubsubdlq.List(ctx, c, strings.Split(name, "/")[1])
	case "rabbit":
		conn, err := rabbitConn()
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		return rabbitdlq.List(ctx, conn, u.Host+u.Path)
	case "azuresb":
		_, a, err := serviceBus()
		if err != nil {
			return nil, err
		}
		return sbdlq.List(ctx, a)
	}
	return nil, fmt.Errorf("dlq: cannot list %q", raw)
}

// dlqMessageView is a dead letter as eventfn dlq prints it: the body as
// text when it is UTF-8, else base64.
type dlqMessageView struct {
	ID            string            `json:"id"`
	Body          string            `json:"body"`
	BodyEncoding  string            `json:"body_encoding"` // "text" or "base64"
	Attributes    map[string]string `json:"attributes"`
	DeliveryCount int               `json:"delivery_count"`
	Error         string            `json:"error,omitempty"`
	Timestamp     *time.Time        `json:"timestamp,omitempty"`
	Source        string            `json:"source,omitempty"`
	GroupID       string            `json:"group_id,omitempty"`
	DedupID       string            `json:"dedup_id,omitempty"`
}

func viewOf(m *dlq.Message) dlqMessageView {
	v := dlqMessageView{ID: m.ID, Attributes: m.Attributes, DeliveryCount: m.DeliveryCount, Error: m.ErrorText(),
		Source: m.Source, GroupID: m.GroupID, DedupID: m.DedupID, Body: string(m.Body), BodyEncoding: "text"}
	if v.Attributes == nil {
		v.Attributes = map[string]string{}
	}
	if !utf8.Valid(m.Body) {
		b, _ := json.Marshal(m.Body) // base64
		v.Body, v.BodyEncoding = strings.Trim(string(b), `"`), "base64"
	}
	if !m.Timestamp.IsZero() {
		t := m.Timestamp.UTC()
		v.Timestamp = &t
	}
	return v
}

func newDLQPeekCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "peek URL",
		Short: "show dead letters without removing them",
		Long: `Show dead letters (body, attributes, delivery count, the error eventfn
recorded) and leave them in the queue. SQS and Pub/Sub have no real peek:
the messages are received and made visible again at once, which counts as a
delivery.`,
		Args: urlArgs(1, 1),
	}
	max := c.Flags().Int("max", 10, "most messages shown")
	timeout := addTimeoutFlag(c)
	c.PreRunE = func(*cobra.Command, []string) error {
		if *max <= 0 {
			return fmt.Errorf("dlq: --max must be positive")
		}
		return nil
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		o, err := openDLQ(ctx, args[0], "", 0)
		if err != nil {
			return brokerError(args[0], err)
		}
		defer o.Close()
		var msgs []*dlq.Message
		for len(msgs) < *max { // drivers return at most a batch per call
			batch, err := o.d.Peek(ctx, *max-len(msgs))
			if err != nil {
				return brokerError(args[0], err)
			}
			if len(batch) == 0 || !addUnseen(&msgs, batch) {
				break
			}
		}
		views := make([]dlqMessageView, 0, len(msgs))
		for _, m := range msgs {
			views = append(views, viewOf(m))
		}
		if jsonOutput(cmd) {
			return printJSON(cmd.OutOrStdout(), views)
		}
		w := cmd.OutOrStdout()
		if len(views) == 0 {
			fmt.Fprintln(w, "no dead letters")
		}
		for _, v := range views {
			fmt.Fprintf(w, "id: %s\n  delivery count: %d\n", v.ID, v.DeliveryCount)
			if v.Timestamp != nil {
				fmt.Fprintf(w, "  sent: %s\n", v.Timestamp.Format(time.RFC3339))
			}
			if v.Error != "" {
				fmt.Fprintf(w, "  error: %s\n", v.Error)
			}
			if v.Source != "" {
				fmt.Fprintf(w, "  source: %s\n", v.Source)
			}
			keys := make([]string, 0, len(v.Attributes))
			for k := range v.Attributes {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(w, "  %s: %s\n", k, v.Attributes[k])
			}
			body := v.Body
			if len(body) > 500 {
				body = body[:500] + "..."
			}
			fmt.Fprintf(w, "  body (%s): %s\n", v.BodyEncoding, body)
		}
		return nil
	}
	return c
}

// addUnseen appends the messages of batch not in *msgs and reports whether
// there were any.
func addUnseen(msgs *[]*dlq.Message, batch []*dlq.Message) bool {
	seen := map[string]bool{}
	for _, m := range *msgs {
		seen[m.ID] = true
	}
	added := false
	for _, m := range batch {
		if !seen[m.ID] {
			*msgs = append(*msgs, m)
			added = true
		}
	}
	return added
}

// redriveResult is what "eventfn dlq redrive --json" prints.
type redriveResult struct {
	Queue       string    `json:"queue"`
	Mode        string    `json:"mode"` // "manual" or "native"
	DryRun      bool      `json:"dry_run"`
	Stats       dlq.Stats `json:"stats"`
	Selected    []string  `json:"selected,omitempty"` // dry run: the IDs that would move
	Interrupted bool      `json:"interrupted"`
	Error       string    `json:"error,omitempty"`
}

func newDLQRedriveCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "redrive URL",
		Short: "move dead letters back to their source",
		Long: `Move dead letters back to their source queue or topic, sending each copy
before deleting the dead letter. The source is the one the broker recorded
(the queue whose SQS RedrivePolicy, Pub/Sub dead-letter policy or RabbitMQ
x-death names this queue), or --to.

On SQS without filters, --max or --dry-run, and on a standard queue,
--native=auto uses SQS's own message move task (StartMessageMoveTask) and
falls back to the manual move on endpoints without it; --rate then sets the
task's messages per second. Ctrl-C cancels the task.

Exit codes: 0 done, 1 a send or delete failed (the message stays in the
dead-letter queue), 2 bad arguments, 130 interrupted.`,
		Args: urlArgs(1, 1),
	}
	f := c.Flags()
	to := f.String("to", "", "redrive target: an SQS queue URL, projects/P/topics/T, rabbit://QUEUE or rabbit://EXCHANGE?routing_key=KEY")
	dry := f.Bool("dry-run", false, "list what would move; send and delete nothing")
	max := f.Int("max", 0, "most messages moved (0: all)")
	rateF := f.Float64("rate", 0, "most messages sent per second (0: no limit)")
	attrs := f.StringArray("attr", nil, "only messages with attribute `NAME=VALUE` (repeatable)")
	older := f.Duration("older-than", 0, "only messages sent at least this long ago")
	newer := f.Duration("newer-than", 0, "only messages sent less than this long ago")
	errText := f.String("error-contains", "", "only messages whose recorded error contains this text")
	native := f.String("native", "auto", "SQS message move task: auto, always or never")
	lease := f.Duration("lease", 0, "how long a received message stays invisible to others (SQS visibility timeout, Pub/Sub ack deadline; default 5m on SQS, 10m on Pub/Sub); a copy whose delete a crash prevented is redriven again after it")
	timeout := addTimeoutFlag(c)
	filter := &dlq.Filter{}
	// Flag values are checked before the command runs, so a bad one is a
	// usage error.
	c.PreRunE = func(cmd *cobra.Command, args []string) error {
		filter.OlderThan, filter.NewerThan, filter.ErrorContains = *older, *newer, *errText
		for _, a := range *attrs {
			k, v, ok := strings.Cut(a, "=")
			if !ok || k == "" {
				return fmt.Errorf("dlq: --attr %q is not NAME=VALUE", a)
			}
			if filter.Attributes == nil {
				filter.Attributes = map[string]string{}
			}
			filter.Attributes[k] = v
		}
		if *max < 0 || *rateF < 0 || *older < 0 || *newer < 0 || *lease < 0 {
			return errors.New("dlq: --max, --rate, --older-than, --newer-than and --lease must not be negative")
		}
		switch *native {
		case "auto", "always", "never":
		default:
			return fmt.Errorf("dlq: --native %q is not auto, always or never", *native)
		}
		return nil
	}
	c.RunE = func(cmd *cobra.Command, args []string) error {
		raw := args[0]
		ctx := cmd.Context()
		octx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		o, err := openDLQ(octx, raw, *to, *lease)
		if err != nil {
			return brokerError(raw, err)
		}
		defer o.Close()
		if o.sources != nil {
			if _, err := o.sources(octx); err != nil {
				return brokerError(raw, err)
			}
		}
		res := redriveResult{Queue: raw, Mode: "manual", DryRun: *dry}
		filtered := len(filter.Attributes) > 0 || filter.OlderThan > 0 || filter.NewerThan > 0 || filter.ErrorContains != ""
		if o.sqs != nil && *native != "never" && !o.sqs.FIFO() && !filtered && *max == 0 && !*dry {
			done, err := nativeRedrive(ctx, cmd, o.sqs, raw, int32(*rateF), &res)
			if done || *native == "always" {
				return finishRedrive(cmd, &res, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "dlq: %s has no message move tasks (%v); moving messages one by one\n", raw, err)
		}
		total, _ := o.d.Depth(octx)
		if *max > 0 && (total < 0 || total > int64(*max)) {
			total = int64(*max)
		}
		prog := newRedriveProgress(cmd, total, *dry)
		stats, err := dlq.Redrive(ctx, o.d, &dlq.RedriveOptions{
			Filter: filter, Max: *max, Rate: *rateF, DryRun: *dry,
			OnMessage: func(m *dlq.Message, err error) {
				if *dry && err == nil {
					res.Selected = append(res.Selected, m.ID)
				}
				prog.message(m, err)
			},
		})
		prog.finish()
		res.Stats = stats
		return finishRedrive(cmd, &res, brokerError(raw, err))
	}
	return c
}

// finishRedrive prints the result and returns the command's error.
func finishRedrive(cmd *cobra.Command, res *redriveResult, err error) error {
	res.Interrupted = errors.Is(err, context.Canceled) || cmd.Context().Err() != nil
	if err != nil {
		res.Error = err.Error()
	}
	st := res.Stats
	if jsonOutput(cmd) {
		if jerr := printJSON(cmd.OutOrStdout(), res); jerr != nil {
			return jerr
		}
	} else {
		verb := "moved"
		if res.DryRun {
			verb = "would move"
		}
		fmt.Fprintf(cmd.OutOrStdout(), "%s %d (received %d, skipped %d, failed %d, duplicated %d) from %s\n",
			verb, pick(res.DryRun, st.Selected, st.Moved), st.Received, st.Skipped, st.Failed, st.Duplicated, res.Queue)
		if res.Interrupted {
			fmt.Fprintln(cmd.ErrOrStderr(), "dlq: interrupted; every message not counted as moved is still in the dead-letter queue")
		}
	}
	if err != nil && res.Interrupted {
		return fmt.Errorf("dlq: interrupted: %w", context.Canceled)
	}
	return err
}

func pick(cond bool, a, b int) int {
	if cond {
		return a
	}
	return b
}

// nativeRedrive runs an SQS message move task until it ends. done is false
// when the endpoint has no move tasks (err says why) and nothing happened.
func nativeRedrive(ctx context.Context, cmd *cobra.Command, d *sqsdlq.Driver, raw string, rate int32, res *redriveResult) (done bool, err error) {
	handle, err := d.StartMoveTask(ctx, rate)
	if errors.Is(err, dlq.ErrUnsupported) {
		return false, err
	}
	if err != nil {
		return true, brokerError(raw, err)
	}
	res.Mode = "native"
	prog := newRedriveProgress(cmd, -1, false)
	defer prog.finish()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			moved, cerr := d.CancelMoveTask(context.WithoutCancel(ctx), handle)
			res.Stats.Moved = int(moved)
			return true, errors.Join(ctx.Err(), cerr)
		case <-tick.C:
		}
		tasks, err := d.MoveTasks(ctx)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			return true, brokerError(raw, err)
		}
		for _, t := range tasks {
			if t.Handle != handle && t.Handle != "" {
				continue
			}
			res.Stats.Moved, res.Stats.Selected = int(t.Moved), int(t.ToMove)
			prog.native(t.Moved, t.ToMove)
			switch t.Status {
			case "COMPLETED":
				return true, nil
			case "FAILED", "CANCELLED":
				return true, fmt.Errorf("dlq: message move task on %s %s: %s", raw, strings.ToLower(t.Status), t.Failure)
			}
		}
	}
}

// redriveProgress shows a redrive: a bar with ETA when stdout is a
// terminal, else one line per message (none with --json).
type redriveProgress struct {
	bar   *progressbar.ProgressBar
	out   io.Writer
	lines io.Writer
	dry   bool
}

func newRedriveProgress(cmd *cobra.Command, total int64, dry bool) *redriveProgress {
	p := &redriveProgress{dry: dry}
	if jsonOutput(cmd) {
		return p
	}
	out := cmd.OutOrStdout()
	if !isTerminal(out) {
		p.lines = out
		return p
	}
	desc := "redriving"
	if dry {
		desc = "dry run"
	}
	p.out = out
	p.bar = progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(out),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionThrottle(100*time.Millisecond),
	)
	return p
}

func (p *redriveProgress) message(m *dlq.Message, err error) {
	switch {
	case p.bar != nil:
		_ = p.bar.Add(1)
	case p.lines != nil && err != nil:
		fmt.Fprintf(p.lines, "failed %s: %v\n", m.ID, err)
	case p.lines != nil && p.dry:
		fmt.Fprintf(p.lines, "would move %s\n", m.ID)
	case p.lines != nil:
		fmt.Fprintf(p.lines, "moved %s\n", m.ID)
	}
}

func (p *redriveProgress) native(moved, toMove int64) {
	switch {
	case p.bar != nil:
		if toMove > 0 {
			p.bar.ChangeMax64(toMove)
		}
		_ = p.bar.Set64(moved)
	case p.lines != nil:
		fmt.Fprintf(p.lines, "moved %d of %d\n", moved, toMove)
	}
}

func (p *redriveProgress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
		fmt.Fprintln(p.out)
	}
}
