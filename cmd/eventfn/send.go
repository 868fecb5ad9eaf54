package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"gocloud.dev/pubsub"

	"github.com/eventfn/eventfn/adapters/gocloud"
)

// sendOptions are eventfn send's flags.
type sendOptions struct {
	file        string
	attrs       []string
	ids         []string
	orderingKey string
	dedupID     string
	repeat      int
	concurrency int
	timeout     time.Duration
}

const sendLong = `Publishes messages to a topic given as a gocloud.dev URL. The bodies come
from the arguments, from --file FILE (- for stdin), or from stdin: one body
per line, or a JSON array of bodies.

URL schemes this build opens:
  awssqs://HOST/ACCOUNT/QUEUE    SQS queue. With AWS_ENDPOINT_URL_SQS or
                                 AWS_ENDPOINT_URL set (fauxqs, LocalStack) the
                                 queue is looked up by name at that endpoint;
                                 otherwise https://HOST/ACCOUNT/QUEUE is used
  awssns:///TOPIC-ARN            SNS topic (AWS_ENDPOINT_URL_SNS or
                                 AWS_ENDPOINT_URL for an emulator)
  gcppubsub://projects/P/topics/T  Pub/Sub topic (PUBSUB_EMULATOR_HOST for the
                                 emulator or pstest)
  azuresb://TOPIC                Service Bus queue or topic
                                 (SERVICEBUS_CONNECTION_STRING)
  rabbit://EXCHANGE              RabbitMQ exchange (RABBIT_SERVER_URL)
  mem://TOPIC                    an in-memory topic inside this eventfn process:
                                 nothing outside it receives the messages, so it
                                 only checks input

Each message carries the --attr attributes and, with --id, the "eventfn-id"
attribute that adapters/gocloud uses as the message ID. --repeat N publishes
each message N times (duplicates on purpose; on a FIFO queue each copy gets
its own deduplication ID unless --dedup-id is given, so SQS keeps them all).
--ordering-key sets the SQS or SNS FIFO MessageGroupId, the Pub/Sub ordering
key or the Service Bus session ID, and publishes one message at a time so
their order holds.

A progress bar with an ETA is shown when stdout is a terminal, one line per
message otherwise, and with --json only a summary. Ctrl-C stops sending and
prints what was sent; the first failed publish stops the send (exit 1).`

func newSendCmd() *cobra.Command {
	o := &sendOptions{}
	cmd := &cobra.Command{
		Use:   "send TOPIC-URL [BODY...]",
		Short: "Publish messages to any gocloud.dev topic URL (SQS, SNS, Pub/Sub, Service Bus, RabbitMQ)",
		Long:  sendLong,
		Example: `  eventfn send awssqs://sqs.us-east-1.amazonaws.com/123456789012/orders '{"id":"o-1","amount_cents":100}'
  AWS_ENDPOINT_URL=http://127.0.0.1:4566 eventfn send awssqs://localhost/000000000000/orders --file orders.jsonl --repeat 2
  PUBSUB_EMULATOR_HOST=127.0.0.1:8085 eventfn send gcppubsub://projects/p/topics/orders --ordering-key c-1 --attr tenant=acme < orders.json`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.file, "file", "f", "", "read bodies from `FILE` (- for stdin): one per line or a JSON array")
	f.StringArrayVar(&o.attrs, "attr", nil, "message attribute `key=value` (repeatable)")
	f.StringArrayVar(&o.ids, "id", nil, "message `ID`s, one per body in order, sent as the eventfn-id attribute (repeatable)")
	f.StringVar(&o.orderingKey, "ordering-key", "", "SQS/SNS FIFO MessageGroupId, Pub/Sub ordering key, Service Bus session ID")
	f.StringVar(&o.dedupID, "dedup-id", "", "FIFO MessageDeduplicationId (default: a new one per message)")
	f.IntVar(&o.repeat, "repeat", 1, "publish each message `N` times (duplicates on purpose)")
	f.IntVar(&o.concurrency, "concurrency", 16, "publishes in flight at once")
	f.DurationVar(&o.timeout, "timeout", 30*time.Second, "give up on one publish after this long")
	return cmd
}

// sendResult is what eventfn send reports.
type sendResult struct {
	URL         string  `json:"url"`
	Messages    int     `json:"messages"`
	Sent        int64   `json:"sent"`
	Interrupted bool    `json:"interrupted,omitempty"`
	Error       string  `json:"error,omitempty"`
	Seconds     float64 `json:"seconds"`
}

func (r *sendResult) writeText(w io.Writer) error {
	switch {
	case r.Interrupted:
		_, err := fmt.Fprintf(w, "eventfn send: interrupted: %d of %d message(s) sent to %s\n", r.Sent, r.Messages, r.URL)
		return err
	case r.Error != "":
		_, err := fmt.Fprintf(w, "eventfn send: %d of %d message(s) sent to %s before a publish failed\n", r.Sent, r.Messages, r.URL)
		return err
	}
	_, err := fmt.Fprintf(w, "eventfn send: %d message(s) sent to %s in %.2fs\n", r.Sent, r.URL, r.Seconds)
	return err
}

func (o *sendOptions) run(cmd *cobra.Command, rawURL string, args []string) error {
	if o.repeat < 1 {
		return usageErrorf("--repeat must be at least 1")
	}
	if o.concurrency < 1 {
		return usageErrorf("--concurrency must be at least 1")
	}
	bodies, err := readBodies(args, o.file, cmd.InOrStdin())
	if err != nil {
		return err
	}
	if len(o.ids) > len(bodies) {
		return usageErrorf("%d --id flags for %d bodies", len(o.ids), len(bodies))
	}
	attrs, err := parseAttrs(o.attrs)
	if err != nil {
		return err
	}
	if o.orderingKey != "" {
		o.concurrency = 1 // publish in order
	}
	ctx := cmd.Context()
	t, err := openTopic(ctx, rawURL)
	if err != nil {
		return err
	}
	defer func() {
		// A batch still retrying against a dead broker must not hold up
		// the exit.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t.Shutdown(ctx)
	}()
	if t.scheme == "mem" {
		fmt.Fprintln(cmd.ErrOrStderr(), "eventfn send: note: mem:// topics live inside this process; nothing else receives these messages")
		// mempubsub logs a warning per message sent without a subscriber.
		prev := log.Writer()
		log.SetOutput(io.Discard)
		defer log.SetOutput(prev)
	}

	type job struct {
		n    int
		body []byte
		meta map[string]string
		hook func(func(any) bool) error
	}
	var jobs []job
	for i, b := range bodies {
		meta := map[string]string{}
		for k, v := range attrs {
			meta[k] = v
		}
		if i < len(o.ids) {
			meta[gocloud.MetaID] = o.ids[i]
		}
		for r := 0; r < o.repeat; r++ {
			hook, err := t.beforeSend(meta, o.orderingKey, o.dedupID)
			if err != nil {
				return err
			}
			jobs = append(jobs, job{n: len(jobs) + 1, body: b, meta: meta, hook: hook})
		}
	}

	res := &sendResult{URL: redactURL(rawURL), Messages: len(jobs)}
	prog := newProgress(cmd.OutOrStdout(), len(jobs), "sending", jsonOutput(cmd))
	start := time.Now()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var (
		sent     atomic.Int64
		firstErr error
		errOnce  sync.Once
		wg       sync.WaitGroup
	)
	next := make(chan job)
	for w := 0; w < o.concurrency; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				pctx, cancel := context.WithTimeout(sctx, o.timeout)
				err := t.Send(pctx, &pubsub.Message{Body: j.body, Metadata: j.meta, BeforeSend: j.hook})
				cancel()
				if err != nil {
					if ctx.Err() == nil {
						errOnce.Do(func() { firstErr = fmt.Errorf("message %d: %w", j.n, err); stop() })
					}
					continue
				}
				sent.Add(1)
				id := j.meta[gocloud.MetaID]
				if id == "" {
					id = "#" + strconv.Itoa(j.n)
				}
				prog.step(fmt.Sprintf("sent %s (%d/%d)", id, j.n, len(jobs)))
			}
		}()
	}
feed:
	for _, j := range jobs {
		select {
		case next <- j:
		case <-sctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	prog.stop()
	res.Sent, res.Seconds = sent.Load(), time.Since(start).Seconds()
	res.Interrupted = ctx.Err() != nil
	if firstErr != nil {
		res.Error = topicError(rawURL, t.scheme, firstErr).Error()
	}
	if err := printResult(cmd, res, res.writeText); err != nil {
		return err
	}
	switch {
	case res.Interrupted:
		return withCode(exitInterrupted, errSilent)
	case firstErr != nil:
		return withCode(exitFailure, errors.New(res.Error))
	}
	return nil
}
