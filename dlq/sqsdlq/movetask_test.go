package sqsdlq_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/eventfn/eventfn/dlq/sqsdlq"
)

// moveTaskAPI answers the move-task calls the way SQS does; fauxqs has no
// move tasks, so this fake checks the driver's requests and mapping only.
type moveTaskAPI struct {
	sqsdlq.API // nil: any other call panics
	started    *sqs.StartMessageMoveTaskInput
	cancelled  string
}

func (f *moveTaskAPI) GetQueueAttributes(_ context.Context, in *sqs.GetQueueAttributesInput, _ ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error) {
	return &sqs.GetQueueAttributesOutput{Attributes: map[string]string{"QueueArn": "arn:aws:sqs:us-east-1:1:" + *in.QueueUrl}}, nil
}

func (f *moveTaskAPI) StartMessageMoveTask(_ context.Context, in *sqs.StartMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error) {
	f.started = in
	return &sqs.StartMessageMoveTaskOutput{TaskHandle: aws.String("task-1")}, nil
}

func (f *moveTaskAPI) ListMessageMoveTasks(_ context.Context, in *sqs.ListMessageMoveTasksInput, _ ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error) {
	return &sqs.ListMessageMoveTasksOutput{Results: []types.ListMessageMoveTasksResultEntry{{
		TaskHandle: aws.String("task-1"), Status: aws.String("RUNNING"), SourceArn: in.SourceArn,
		ApproximateNumberOfMessagesMoved: 4, ApproximateNumberOfMessagesToMove: aws.Int64(10), MaxNumberOfMessagesPerSecond: aws.Int32(5),
	}}}, nil
}

func (f *moveTaskAPI) CancelMessageMoveTask(_ context.Context, in *sqs.CancelMessageMoveTaskInput, _ ...func(*sqs.Options)) (*sqs.CancelMessageMoveTaskOutput, error) {
	f.cancelled = *in.TaskHandle
	return &sqs.CancelMessageMoveTaskOutput{ApproximateNumberOfMessagesMoved: 4}, nil
}

func TestMoveTaskRequestsAndStatus(t *testing.T) {
	ctx := context.Background()
	api := &moveTaskAPI{}
	d, err := sqsdlq.Open(ctx, api, "dead", &sqsdlq.Options{Source: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := d.StartMoveTask(ctx, 5)
	if err != nil || h != "task-1" {
		t.Fatalf("StartMoveTask = %q, %v", h, err)
	}
	if got := api.started; *got.SourceArn != "arn:aws:sqs:us-east-1:1:dead" || aws.ToString(got.DestinationArn) != "arn:aws:sqs:us-east-1:1:orders" || aws.ToInt32(got.MaxNumberOfMessagesPerSecond) != 5 {
		t.Fatalf("request: source %s, destination %v, rate %v", *got.SourceArn, aws.ToString(got.DestinationArn), aws.ToInt32(got.MaxNumberOfMessagesPerSecond))
	}
	tasks, err := d.MoveTasks(ctx)
	if err != nil || len(tasks) != 1 || tasks[0].Status != "RUNNING" || tasks[0].Moved != 4 || tasks[0].ToMove != 10 {
		t.Fatalf("MoveTasks = %+v, %v", tasks, err)
	}
	if n, err := d.CancelMoveTask(ctx, h); err != nil || n != 4 || api.cancelled != "task-1" {
		t.Fatalf("CancelMoveTask = %d, %v (cancelled %q)", n, err, api.cancelled)
	}
}

// Without an explicit source the task has no destination: SQS moves each
// message back to the queue it came from.
func TestMoveTaskWithoutSourceLeavesTheDestinationToSQS(t *testing.T) {
	api := &moveTaskAPI{}
	d, err := sqsdlq.Open(context.Background(), api, "dead", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.StartMoveTask(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if api.started.DestinationArn != nil || api.started.MaxNumberOfMessagesPerSecond != nil {
		t.Fatalf("request = %+v", api.started)
	}
}
