package sqsdlq

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
)

// MoveTask is the state of a native message move task.
type MoveTask struct {
	Handle   string `json:"task_handle,omitempty"`
	Status   string `json:"status"` // RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED
	Moved    int64  `json:"moved"`
	ToMove   int64  `json:"to_move"`
	Failure  string `json:"failure,omitempty"`
	Started  int64  `json:"started_ms,omitempty"`
	RateHint int32  `json:"max_per_second,omitempty"`
}

// StartMoveTask starts SQS's native redrive of every message to its
// original source (or to Options.Source), at most maxPerSecond messages a
// second when it is positive. It returns the task handle, or an error
// matching dlq.ErrUnsupported on endpoints without move tasks.
func (d *Driver) StartMoveTask(ctx context.Context, maxPerSecond int32) (string, error) {
	in := &sqs.StartMessageMoveTaskInput{SourceArn: &d.arn}
	if d.o.Source != "" {
		if err := d.resolve(ctx); err != nil {
			return "", err
		}
		for arn := range d.sources {
			in.DestinationArn = aws.String(arn)
		}
	}
	if maxPerSecond > 0 {
		in.MaxNumberOfMessagesPerSecond = &maxPerSecond
	}
	out, err := d.api.StartMessageMoveTask(ctx, in)
	if err != nil {
		return "", classify(fmt.Sprintf("sqsdlq: start message move task on %s", d.url), err)
	}
	return aws.ToString(out.TaskHandle), nil
}

// MoveTasks returns the most recent move tasks of the queue, newest first.
func (d *Driver) MoveTasks(ctx context.Context) ([]MoveTask, error) {
	out, err := d.api.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: &d.arn, MaxResults: aws.Int32(10)})
	if err != nil {
		return nil, classify(fmt.Sprintf("sqsdlq: list message move tasks of %s", d.url), err)
	}
	var tasks []MoveTask
	for _, r := range out.Results {
		tasks = append(tasks, MoveTask{
			Handle: aws.ToString(r.TaskHandle), Status: aws.ToString(r.Status),
			Moved: r.ApproximateNumberOfMessagesMoved, ToMove: aws.ToInt64(r.ApproximateNumberOfMessagesToMove),
			Failure: aws.ToString(r.FailureReason), Started: r.StartedTimestamp, RateHint: aws.ToInt32(r.MaxNumberOfMessagesPerSecond),
		})
	}
	return tasks, nil
}

// CancelMoveTask cancels a running move task and returns how many messages
// it had moved.
func (d *Driver) CancelMoveTask(ctx context.Context, handle string) (int64, error) {
	out, err := d.api.CancelMessageMoveTask(ctx, &sqs.CancelMessageMoveTaskInput{TaskHandle: &handle})
	if err != nil {
		return 0, classify(fmt.Sprintf("sqsdlq: cancel message move task %s", handle), err)
	}
	return out.ApproximateNumberOfMessagesMoved, nil
}
