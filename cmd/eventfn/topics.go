package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"sort"
	"strings"

	"cloud.google.com/go/pubsub/apiv1/pubsubpb"
	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	awssns "github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	awssqs "github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"gocloud.dev/pubsub"
	"gocloud.dev/pubsub/awssnssqs"
	_ "gocloud.dev/pubsub/azuresb"
	_ "gocloud.dev/pubsub/gcppubsub"
	_ "gocloud.dev/pubsub/mempubsub"
	_ "gocloud.dev/pubsub/rabbitpubsub"
)

// brokerHints say, per URL scheme, what configures the connection; errors
// name them.
var brokerHints = map[string]string{
	"mem":       "mem:// topics exist only inside this eventfn process",
	"awssqs":    "for a local emulator (fauxqs, LocalStack) set AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL; check AWS_REGION and credentials",
	"awssns":    "for a local emulator (fauxqs, LocalStack) set AWS_ENDPOINT_URL_SNS or AWS_ENDPOINT_URL; check AWS_REGION and credentials",
	"gcppubsub": "for the emulator or pstest set PUBSUB_EMULATOR_HOST=host:port; otherwise check the project and Application Default Credentials",
	"azuresb":   "set SERVICEBUS_CONNECTION_STRING (or AZURE_SERVICEBUS_HOSTNAME with Azure credentials)",
	"rabbit":    "set RABBIT_SERVER_URL=amqp://user:pass@host:5672/",
}

// schemes returns the URL schemes this build opens, sorted.
func schemes() []string {
	out := make([]string, 0, len(brokerHints))
	for s := range brokerHints {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// topicError wraps err with the URL and what to check for its scheme.
func topicError(raw, scheme string, err error) error {
	return fmt.Errorf("%s: %w (%s)", redactURL(raw), err, brokerHints[scheme])
}

// awsEndpoint returns the endpoint override for service ("SQS" or "SNS")
// from AWS_ENDPOINT_URL_<SERVICE> or AWS_ENDPOINT_URL, and the variable set.
func awsEndpoint(service string) (string, string) {
	for _, v := range []string{"AWS_ENDPOINT_URL_" + service, "AWS_ENDPOINT_URL"} {
		if e := os.Getenv(v); e != "" {
			return e, v
		}
	}
	return "", ""
}

// topic is an opened topic and how to set platform fields on its messages.
type topic struct {
	*pubsub.Topic
	scheme string
	url    string
}

// openTopic opens a gocloud topic URL. awssqs:// and awssns:// URLs are
// opened with an SDK client pointed at AWS_ENDPOINT_URL[_SQS|_SNS] when it
// is set, because gocloud's opener would build an https AWS queue URL.
func openTopic(ctx context.Context, raw string) (*topic, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return nil, usageErrorf("%q is not a topic URL (want SCHEME://..., one of %s)", raw, strings.Join(schemes(), ", "))
	}
	if _, ok := brokerHints[u.Scheme]; !ok {
		return nil, usageErrorf("unknown URL scheme %q in %s: this build opens %s", u.Scheme, redactURL(raw), strings.Join(schemes(), ", "))
	}
	t := &topic{scheme: u.Scheme, url: raw}
	switch u.Scheme {
	case "awssqs":
		if ep, _ := awsEndpoint("SQS"); ep != "" {
			t.Topic, err = openSQSAtEndpoint(ctx, u, ep)
			if err != nil {
				return nil, topicError(raw, u.Scheme, err)
			}
			return t, nil
		}
	case "awssns":
		if ep, _ := awsEndpoint("SNS"); ep != "" {
			t.Topic, err = openSNSAtEndpoint(ctx, u, ep)
			if err != nil {
				return nil, topicError(raw, u.Scheme, err)
			}
			return t, nil
		}
	}
	t.Topic, err = pubsub.OpenTopic(ctx, raw)
	if err != nil {
		return nil, topicError(raw, u.Scheme, err)
	}
	return t, nil
}

// awsConfig loads the SDK configuration, with the URL's region= if any.
func awsConfig(ctx context.Context, u *url.URL) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if r := u.Query().Get("region"); r != "" {
		opts = append(opts, config.WithRegion(r))
	}
	return config.LoadDefaultConfig(ctx, opts...)
}

// openSQSAtEndpoint resolves the queue named by the URL's last path element
// at the endpoint, which also checks that the endpoint answers.
func openSQSAtEndpoint(ctx context.Context, u *url.URL, endpoint string) (*pubsub.Topic, error) {
	cfg, err := awsConfig(ctx, u)
	if err != nil {
		return nil, err
	}
	client := awssqs.NewFromConfig(cfg, func(o *awssqs.Options) { o.BaseEndpoint = aws.String(endpoint) })
	name := path.Base(u.Path)
	if name == "" || name == "/" || name == "." {
		name = u.Host
	}
	out, err := client.GetQueueUrl(ctx, &awssqs.GetQueueUrlInput{QueueName: aws.String(name)})
	if err != nil {
		return nil, fmt.Errorf("queue %q at %s: %w", name, endpoint, err)
	}
	return awssnssqs.OpenSQSTopic(ctx, client, aws.ToString(out.QueueUrl), nil), nil
}

// openSNSAtEndpoint opens the topic ARN of the URL at the endpoint after
// checking that the topic exists there.
func openSNSAtEndpoint(ctx context.Context, u *url.URL, endpoint string) (*pubsub.Topic, error) {
	cfg, err := awsConfig(ctx, u)
	if err != nil {
		return nil, err
	}
	client := awssns.NewFromConfig(cfg, func(o *awssns.Options) { o.BaseEndpoint = aws.String(endpoint) })
	arn := strings.TrimPrefix(path.Join(u.Host, u.Path), "/")
	if _, err := client.GetTopicAttributes(ctx, &awssns.GetTopicAttributesInput{TopicArn: aws.String(arn)}); err != nil {
		return nil, fmt.Errorf("topic %q at %s: %w", arn, endpoint, err)
	}
	return awssnssqs.OpenSNSTopic(ctx, client, arn, nil), nil
}

// errNoOrdering is returned for an ordering key on a broker without one.
var errNoOrdering = errors.New("this broker has no ordering key")

// beforeSend returns the BeforeSend hook that sets the platform's own
// fields: attributes unescaped on SQS and SNS (gocloud URL-escapes metadata
// values, which a Lambda consumer would see), the ordering key as the SQS or
// SNS FIFO MessageGroupId (with a deduplication ID), the Pub/Sub
// orderingKey, or the Service Bus SessionID.
func (t *topic) beforeSend(attrs map[string]string, orderingKey, dedupID string) (func(func(any) bool) error, error) {
	switch t.scheme {
	case "mem", "rabbit":
		if orderingKey != "" {
			return nil, usageErrorf("--ordering-key: %s:// %v", t.scheme, errNoOrdering)
		}
		return nil, nil
	}
	return func(as func(any) bool) error {
		var sqsEntry *sqstypes.SendMessageBatchRequestEntry
		var snsEntry *snstypes.PublishBatchRequestEntry
		var pm *pubsubpb.PubsubMessage
		var sb *azservicebus.Message
		switch {
		case as(&sqsEntry):
			for k, v := range attrs {
				sqsEntry.MessageAttributes[k] = sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
			if orderingKey != "" {
				sqsEntry.MessageGroupId = aws.String(orderingKey)
				sqsEntry.MessageDeduplicationId = aws.String(orDefault(dedupID, randomToken(16)))
			}
		case as(&snsEntry):
			for k, v := range attrs {
				snsEntry.MessageAttributes[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
			}
			if orderingKey != "" {
				snsEntry.MessageGroupId = aws.String(orderingKey)
				snsEntry.MessageDeduplicationId = aws.String(orDefault(dedupID, randomToken(16)))
			}
		case as(&pm):
			pm.OrderingKey = orderingKey
		case as(&sb):
			if orderingKey != "" {
				sb.SessionID = aws.String(orderingKey)
			}
		}
		return nil
	}, nil
}
