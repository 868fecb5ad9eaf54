package sqsdlq_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/eventfn/eventfn/dlq"
	"github.com/eventfn/eventfn/dlq/sqsdlq"
)

// Redrive an SQS dead-letter queue: the native move task where SQS offers
// it, else the manual move, here limited to 50 messages a second and to
// messages whose recorded error mentions a timeout.
func Example() {
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx) // honours AWS_ENDPOINT_URL_SQS
	if err != nil {
		log.Fatal(err)
	}
	d, err := sqsdlq.Open(ctx, sqs.NewFromConfig(cfg), "https://sqs.us-east-1.amazonaws.com/123456789012/orders-dlq", nil)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := d.StartMoveTask(ctx, 50); err == nil {
		return // SQS moves everything back; poll d.MoveTasks for progress
	} else if !errors.Is(err, dlq.ErrUnsupported) {
		log.Fatal(err)
	}
	st, err := dlq.Redrive(ctx, d, &dlq.RedriveOptions{Rate: 50, Filter: &dlq.Filter{ErrorContains: "timeout"}})
	fmt.Printf("moved %d, skipped %d\n", st.Moved, st.Skipped)
	if err != nil {
		log.Fatal(err)
	}
}
