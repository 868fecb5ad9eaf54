package pubsub_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/handler"
)

type order struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
}

var orderHandler = handler.JSON(func(ctx context.Context, m *handler.Message, o order) error {
	log.Printf("order %s (message %s, attempt %d)", o.ID, m.ID, m.DeliveryAttempt)
	return nil
})

// A Cloud Function (2nd gen) triggered by a topic: register the function in
// init, deploy with --trigger-topic and --retry.
func ExampleCloudEventFunction() {
	functions.CloudEvent("OrderPlaced", pubsub.CloudEventFunction(orderHandler, nil))
}

// A push endpoint on Cloud Run, verifying the subscription's OIDC token.
func ExampleNewPushHandler() {
	push := pubsub.NewPushHandler(orderHandler, &pubsub.PushOptions{
		Verifier: &pubsub.OIDCVerifier{
			Audience:            "https://orders-abc123-uc.a.run.app/push",
			ServiceAccountEmail: "pubsub-push@my-project.iam.gserviceaccount.com",
		},
		Timeout: 9 * time.Second, // the subscription's ack deadline is 10 s
	})
	http.Handle("/push", push)
	log.Fatal(http.ListenAndServe(":"+os.Getenv("PORT"), nil))
}
