// Package sqstest gives tests an SQS client for the test run's fauxqs server
// and queues on it. It is apart from testenv so only tests that use SQS
// link the AWS SDK.
package sqstest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/internal/testenv"
)

// Client returns an SQS client for the test run's fauxqs server
// (AWS_ENDPOINT_URL_SQS points it there), skipping or failing the test as
// testenv.SQS does when the server is not running.
func Client(t testing.TB) *sqs.Client {
	t.Helper()
	testenv.SQS(t)
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	return sqs.NewFromConfig(cfg)
}

// CreateQueue creates a queue named name plus a random suffix (before a
// ".fifo" ending, which FIFO queue names need) with attrs, deletes it when
// the test ends, and returns its URL and ARN.
func CreateQueue(t testing.TB, c *sqs.Client, name string, attrs map[string]string) (url, arn string) {
	t.Helper()
	ctx := context.Background()
	suffix := ""
	if len(name) > 5 && name[len(name)-5:] == ".fifo" {
		name, suffix = name[:len(name)-5], ".fifo"
	}
	name = fmt.Sprintf("%s-%d%s", name, rand.Uint32(), suffix)
	out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
	if err != nil {
		t.Fatalf("sqstest: CreateQueue %s: %v", name, err)
	}
	qa, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: out.QueueUrl, AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = c.DeleteQueue(context.Background(), &sqs.DeleteQueueInput{QueueUrl: out.QueueUrl}) })
	return *out.QueueUrl, qa.Attributes["QueueArn"]
}

// Depth returns the messages in the queue at url, visible or not.
func Depth(t testing.TB, c *sqs.Client, url string) int {
	t.Helper()
	out, err := c.GetQueueAttributes(context.Background(), &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
		types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible}})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	b, _ := strconv.Atoi(out.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible)])
	return a + b
}
