package sqsdlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/handler"
)

// API is the part of *sqs.Client the driver uses.
type API interface {
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, optFns ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, optFns ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, optFns ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, optFns ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	ListQueues(ctx context.Context, in *sqs.ListQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListQueuesOutput, error)
	ListDeadLetterSourceQueues(ctx context.Context, in *sqs.ListDeadLetterSourceQueuesInput, optFns ...func(*sqs.Options)) (*sqs.ListDeadLetterSourceQueuesOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, optFns ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
	CancelMessageMoveTask(ctx context.Context, in *sqs.CancelMessageMoveTaskInput, optFns ...func(*sqs.Options)) (*sqs.CancelMessageMoveTaskOutput, error)
}

var _ API = (*sqs.Client)(nil)

// Options configure Open. The zero value is ready to use.
type Options struct {
	// Source is the queue URL messages are redriven to. Default: the
	// queues whose RedrivePolicy names the dead-letter queue.
	Source string
	// VisibilityTimeout is how long a received message stays leased.
	// Default: 5 minutes.
	VisibilityTimeout time.Duration
	// WaitTime is how long Receive long-polls before deciding the queue is
	// empty. Default: 1 second.
	WaitTime time.Duration
}

// Driver is one SQS dead-letter queue. It is not safe for concurrent use.
type Driver struct {
	api     API
	url     string
	arn     string
	fifo    bool
	o       Options
	sources map[string]string // source ARN -> URL; nil until resolved
}

var _ dlq.Driver = (*Driver)(nil)

// Open checks that the queue at queueURL exists and returns its driver.
func Open(ctx context.Context, api API, queueURL string, opts *Options) (*Driver, error) {
	d := &Driver{api: api, url: queueURL}
	if opts != nil {
		d.o = *opts
	}
	if d.o.VisibilityTimeout <= 0 {
		d.o.VisibilityTimeout = 5 * time.Minute
	}
	if d.o.WaitTime <= 0 {
		d.o.WaitTime = time.Second
	}
	attrs, err := queueAttrs(ctx, api, queueURL, types.QueueAttributeNameQueueArn, types.QueueAttributeNameFifoQueue)
	if err != nil {
		return nil, err
	}
	d.arn = attrs[string(types.QueueAttributeNameQueueArn)]
	d.fifo = attrs[string(types.QueueAttributeNameFifoQueue)] == "true"
	return d, nil
}

// ARN returns the dead-letter queue's ARN.
func (d *Driver) ARN() string { return d.arn }

// FIFO reports whether the queue is a FIFO queue.
func (d *Driver) FIFO() bool { return d.fifo }

// Ordered implements dlq.Ordered: true for FIFO queues.
func (d *Driver) Ordered() bool { return d.fifo }

func queueAttrs(ctx context.Context, api API, url string, names ...types.QueueAttributeName) (map[string]string, error) {
	out, err := api.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &url, AttributeNames: names})
	if err != nil {
		return nil, classify(fmt.Sprintf("sqsdlq: queue %s", url), err)
	}
	return out.Attributes, nil
}

// classify wraps err with what, matching dlq.ErrNotFound or
// dlq.ErrUnsupported when the API error says so.
func classify(what string, err error) error {
	var qdne *types.QueueDoesNotExist
	var ae smithy.APIError
	switch {
	case errors.As(err, &qdne):
		return fmt.Errorf("%s: %w: %w", what, dlq.ErrNotFound, err)
	case errors.As(err, &ae):
		switch code := ae.ErrorCode(); {
		case strings.Contains(code, "NonExistentQueue"), strings.Contains(code, "QueueDoesNotExist"), code == "ResourceNotFoundException":
			return fmt.Errorf("%s: %w: %w", what, dlq.ErrNotFound, err)
		case code == "InvalidAction", code == "UnsupportedOperation", code == "UnknownOperationException", code == "NotImplemented":
			return fmt.Errorf("%s: %w: %w", what, dlq.ErrUnsupported, err)
		}
	}
	return fmt.Errorf("%s: %w", what, err)
}

// Depth returns ApproximateNumberOfMessages.
func (d *Driver) Depth(ctx context.Context) (int64, error) {
	attrs, err := queueAttrs(ctx, d.api, d.url, types.QueueAttributeNameApproximateNumberOfMessages)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(attrs[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
}

// Sources returns the URLs of the queues messages are redriven to:
// Options.Source, or the queues dead-lettering into this one, or an error
// matching dlq.ErrNoSource.
func (d *Driver) Sources(ctx context.Context) ([]string, error) {
	if err := d.resolve(ctx); err != nil {
		return nil, err
	}
	var out []string
	for _, u := range d.sources {
		out = append(out, u)
	}
	return out, nil
}

func (d *Driver) resolve(ctx context.Context) error {
	if d.sources != nil {
		return nil
	}
	var urls []string
	if d.o.Source != "" {
		urls = []string{d.o.Source}
	} else {
		var err error
		if urls, err = SourceQueues(ctx, d.api, d.url, d.arn); err != nil {
			return err
		}
	}
	if len(urls) == 0 {
		return fmt.Errorf("sqsdlq: %s: %w (no queue's RedrivePolicy names %s; pass the source queue explicitly)", d.url, dlq.ErrNoSource, d.arn)
	}
	m := map[string]string{}
	for _, u := range urls {
		attrs, err := queueAttrs(ctx, d.api, u, types.QueueAttributeNameQueueArn)
		if err != nil {
			return fmt.Errorf("sqsdlq: redrive target: %w", err)
		}
		m[attrs[string(types.QueueAttributeNameQueueArn)]] = u
	}
	d.sources = m
	return nil
}

// SourceQueues returns the URLs of the queues whose RedrivePolicy names
// dlqARN, the queue at dlqURL: ListDeadLetterSourceQueues, or on endpoints
// without it a scan of ListQueues.
func SourceQueues(ctx context.Context, api API, dlqURL, dlqARN string) ([]string, error) {
	var urls []string
	p := sqs.NewListDeadLetterSourceQueuesPaginator(api, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &dlqURL})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			if cerr := classify("", err); errors.Is(cerr, dlq.ErrUnsupported) {
				return scanSources(ctx, api, dlqARN)
			}
			return nil, classify(fmt.Sprintf("sqsdlq: source queues of %s", dlqURL), err)
		}
		urls = append(urls, out.QueueUrls...)
	}
	return urls, nil
}

func scanSources(ctx context.Context, api API, dlqARN string) ([]string, error) {
	qs, err := listQueues(ctx, api, "")
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, q := range qs {
		if q.target == dlqARN {
			urls = append(urls, q.url)
		}
	}
	return urls, nil
}

type queueInfo struct {
	url, arn, target string
	depth            int64
}

func listQueues(ctx context.Context, api API, prefix string) ([]queueInfo, error) {
	in := &sqs.ListQueuesInput{}
	if prefix != "" {
		in.QueueNamePrefix = &prefix
	}
	var out []queueInfo
	p := sqs.NewListQueuesPaginator(api, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, classify("sqsdlq: list queues", err)
		}
		for _, u := range page.QueueUrls {
			attrs, err := queueAttrs(ctx, api, u, types.QueueAttributeNameQueueArn, types.QueueAttributeNameRedrivePolicy, types.QueueAttributeNameApproximateNumberOfMessages)
			if errors.Is(err, dlq.ErrNotFound) {
				continue // deleted while listing
			}
			if err != nil {
				return nil, err
			}
			q := queueInfo{url: u, arn: attrs[string(types.QueueAttributeNameQueueArn)]}
			q.depth, _ = strconv.ParseInt(attrs[string(types.QueueAttributeNameApproximateNumberOfMessages)], 10, 64)
			if rp := attrs[string(types.QueueAttributeNameRedrivePolicy)]; rp != "" {
				var pol struct {
					DeadLetterTargetArn string `json:"deadLetterTargetArn"`
				}
				if json.Unmarshal([]byte(rp), &pol) == nil {
					q.target = pol.DeadLetterTargetArn
				}
			}
			out = append(out, q)
		}
	}
	return out, nil
}

// List returns the dead-letter queues among the queues whose names start
// with prefix (all queues when prefix is empty): those some queue's
// RedrivePolicy names, with their depth and sources.
func List(ctx context.Context, api API, prefix string) ([]dlq.Queue, error) {
	qs, err := listQueues(ctx, api, "")
	if err != nil {
		return nil, err
	}
	byARN := map[string]*dlq.Queue{}
	var order []string
	for _, q := range qs {
		if q.target == "" {
			continue
		}
		dq := byARN[q.target]
		if dq == nil {
			dq = &dlq.Queue{Depth: -1}
			byARN[q.target] = dq
			order = append(order, q.target)
		}
		dq.Sources = append(dq.Sources, q.url)
	}
	var out []dlq.Queue
	for _, q := range qs {
		if dq := byARN[q.arn]; dq != nil {
			name := q.url[strings.LastIndex(q.url, "/")+1:]
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			dq.Name, dq.URL, dq.Depth = name, q.url, q.depth
			out = append(out, *dq)
		}
	}
	return out, nil
}

// Receive leases up to max messages (at most 10 per call) for
// Options.VisibilityTimeout.
func (d *Driver) Receive(ctx context.Context, max int) ([]*dlq.Message, error) {
	return d.receive(ctx, max, d.o.VisibilityTimeout)
}

func (d *Driver) receive(ctx context.Context, n int, vis time.Duration) ([]*dlq.Message, error) {
	out, err := d.api.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    &d.url,
		MaxNumberOfMessages:         int32(min(max(n, 1), 10)),
		VisibilityTimeout:           int32(vis / time.Second),
		WaitTimeSeconds:             int32(d.o.WaitTime / time.Second),
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
	})
	if err != nil {
		return nil, classify(fmt.Sprintf("sqsdlq: receive from %s", d.url), err)
	}
	msgs := make([]*dlq.Message, 0, len(out.Messages))
	for i := range out.Messages {
		msgs = append(msgs, toMessage(&out.Messages[i]))
	}
	return msgs, nil
}

func toMessage(r *types.Message) *dlq.Message {
	m := &dlq.Message{ID: aws.ToString(r.MessageId), Body: []byte(aws.ToString(r.Body)), Attributes: map[string]string{}, Handle: r}
	for k, v := range r.MessageAttributes {
		if v.StringValue != nil {
			m.Attributes[k] = *v.StringValue
		}
	}
	sys := r.Attributes
	m.DeliveryCount, _ = strconv.Atoi(sys[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if ms, err := strconv.ParseInt(sys[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		m.Timestamp = time.UnixMilli(ms)
	}
	m.GroupID = sys[string(types.MessageSystemAttributeNameMessageGroupId)]
	m.DedupID = sys[string(types.MessageSystemAttributeNameMessageDeduplicationId)]
	m.Source = sys[string(types.MessageSystemAttributeNameDeadLetterQueueSourceArn)]
	if m.Source == "" {
		m.Source = m.Attributes[handler.AttrQueue]
	}
	m.Error = m.Attributes[handler.AttrError]
	return m
}

// Peek receives up to max messages (at most 10) and makes them visible
// again at once.
func (d *Driver) Peek(ctx context.Context, max int) ([]*dlq.Message, error) {
	msgs, err := d.receive(ctx, max, 30*time.Second)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, m := range msgs {
		errs = append(errs, d.Release(ctx, m))
	}
	return msgs, errors.Join(errs...)
}

func (d *Driver) target(ctx context.Context, m *dlq.Message) (string, error) {
	if err := d.resolve(ctx); err != nil {
		return "", err
	}
	if len(d.sources) == 1 {
		for _, u := range d.sources {
			return u, nil
		}
	}
	if u, ok := d.sources[m.Source]; ok {
		return u, nil
	}
	return "", fmt.Errorf("sqsdlq: %s: message %s: %d source queues and none named by the message; pass the source queue explicitly: %w", d.url, m.ID, len(d.sources), dlq.ErrNoSource)
}

// Send copies m to its source queue.
func (d *Driver) Send(ctx context.Context, m *dlq.Message) error {
	url, err := d.target(ctx, m)
	if err != nil {
		return err
	}
	in := &sqs.SendMessageInput{QueueUrl: &url, MessageBody: aws.String(string(m.Body)), MessageAttributes: map[string]types.MessageAttributeValue{}}
	if r, ok := m.Handle.(*types.Message); ok {
		for k, v := range r.MessageAttributes {
			in.MessageAttributes[k] = v
		}
	}
	for k, v := range m.Attributes {
		if _, ok := in.MessageAttributes[k]; !ok {
			in.MessageAttributes[k] = types.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
		}
	}
	if m.GroupID != "" {
		in.MessageGroupId = &m.GroupID
	}
	if d.fifo || m.GroupID != "" {
		in.MessageDeduplicationId = aws.String(DedupID(m))
	}
	if _, err := d.api.SendMessage(ctx, in); err != nil {
		return classify(fmt.Sprintf("sqsdlq: send to %s", url), err)
	}
	return nil
}

// DedupID is the deduplication ID a FIFO copy of m is sent with:
// "eventfn-redrive-" and the dead letter's message ID. The original
// deduplication ID would make SQS drop the copy as a duplicate of the
// original when that was sent less than five minutes before; this one
// makes SQS drop only a second copy of the same dead letter (a redrive
// that crashed between send and delete).
func DedupID(m *dlq.Message) string { return "eventfn-redrive-" + m.ID }

func receipt(m *dlq.Message) (*string, error) {
	r, ok := m.Handle.(*types.Message)
	if !ok || r.ReceiptHandle == nil {
		return nil, fmt.Errorf("sqsdlq: message %s was not received by this driver", m.ID)
	}
	return r.ReceiptHandle, nil
}

// Delete deletes a received message.
func (d *Driver) Delete(ctx context.Context, m *dlq.Message) error {
	h, err := receipt(m)
	if err != nil {
		return err
	}
	if _, err := d.api.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: &d.url, ReceiptHandle: h}); err != nil {
		return classify(fmt.Sprintf("sqsdlq: delete %s from %s", m.ID, d.url), err)
	}
	return nil
}

// Release makes a received message visible again.
func (d *Driver) Release(ctx context.Context, m *dlq.Message) error {
	h, err := receipt(m)
	if err != nil {
		return err
	}
	if _, err := d.api.ChangeMessageVisibility(ctx, &sqs.ChangeMessageVisibilityInput{QueueUrl: &d.url, ReceiptHandle: h, VisibilityTimeout: 0}); err != nil {
		return classify(fmt.Sprintf("sqsdlq: release %s in %s", m.ID, d.url), err)
	}
	return nil
}

// Close does nothing; the client is the caller's.
func (d *Driver) Close() error { return nil }
