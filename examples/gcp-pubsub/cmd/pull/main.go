// Command pull runs the orders handler as a long-running pull consumer
// (adapters/pubsub/pull.Receive) until SIGINT or SIGTERM, then shuts down
// gracefully. Against an emulator (PUBSUB_EMULATOR_HOST) it can also create
// the topics and subscriptions and publish test orders:
//
//	pull -setup                      create orders, orders-dead-letter and
//	                                 orders-worker (dead-letter policy, 5 attempts)
//	pull -publish '{"id":"o-1",...}' publish one order and exit
//	pull                             consume orders-worker
//
// Environment: GOOGLE_CLOUD_PROJECT (default "eventfn-local") and the
// variables of package orderfn.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/eventfn/eventfn/adapters/pubsub/pull"

	orderfn "github.com/eventfn/eventfn/examples/gcp-pubsub"
)

func main() {
	topic := flag.String("topic", "orders", "topic ID")
	sub := flag.String("subscription", "orders-worker", "subscription ID")
	setup := flag.Bool("setup", false, "create the topics and the subscription, then exit")
	publish := flag.String("publish", "", "publish this order JSON, then exit")
	key := flag.String("ordering-key", "", "ordering key for -publish")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *topic, *sub, *setup, *publish, *key); err != nil {
		log.Fatalf("pull: %v", err)
	}
}

func run(ctx context.Context, topic, sub string, setup bool, publish, key string) error {
	project := os.Getenv("GOOGLE_CLOUD_PROJECT")
	if project == "" {
		project = "eventfn-local"
	}
	client, err := gpubsub.NewClient(ctx, project)
	if err != nil {
		return err
	}
	defer client.Close()
	topicName := fmt.Sprintf("projects/%s/topics/%s", project, topic)
	switch {
	case setup:
		return create(ctx, client, project, topicName, sub)
	case publish != "":
		p := client.Publisher(topicName)
		p.EnableMessageOrdering = key != ""
		defer p.Stop()
		id, err := p.Publish(ctx, &gpubsub.Message{Data: []byte(publish), OrderingKey: key}).Get(ctx)
		if err != nil {
			return err
		}
		fmt.Println(id)
		return nil
	}
	log.Printf("pull: consuming %s", sub)
	return pull.Receive(ctx, client, sub, orderfn.Handler(), &pull.ReceiveOptions{DeadLetter: orderfn.DeadLetter()})
}

func create(ctx context.Context, c *gpubsub.Client, project, topic, sub string) error {
	dlq := topic + "-dead-letter"
	for _, t := range []string{topic, dlq} {
		if _, err := c.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: t}); err != nil && status.Code(err) != codes.AlreadyExists {
			return err
		}
	}
	subs := []*pubsubpb.Subscription{
		{Name: fmt.Sprintf("projects/%s/subscriptions/%s", project, sub), Topic: topic, AckDeadlineSeconds: 60,
			EnableMessageOrdering: true,
			DeadLetterPolicy:      &pubsubpb.DeadLetterPolicy{DeadLetterTopic: dlq, MaxDeliveryAttempts: 5}},
		{Name: fmt.Sprintf("projects/%s/subscriptions/%s-dead-letter-keep", project, sub), Topic: dlq},
	}
	for _, s := range subs {
		if _, err := c.SubscriptionAdminClient.CreateSubscription(ctx, s); err != nil && status.Code(err) != codes.AlreadyExists {
			return err
		}
		log.Printf("pull: subscription %s ready", s.Name)
	}
	return nil
}
