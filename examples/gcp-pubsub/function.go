// Package orderfn is the orders example on Google Cloud: the shared order
// handler (examples/orders), made exactly-once with the idempotency
// middleware, deployed
//
//   - as a Cloud Function (2nd gen) triggered by the orders topic:
//     OrderPlaced, a CloudEvent function (--entry-point OrderPlaced);
//   - as a push endpoint on Cloud Run (or any HTTP host): OrderPlacedPush,
//     an HTTP function that verifies the push subscription's OIDC token.
//
// Both are registered with the Functions Framework in init, which is how
// Cloud Functions and the Go buildpack find them; cmd/serve runs them
// locally, each at /<name>, or one at / when FUNCTION_TARGET names it.
// cmd/pull runs the same handler as a long-running pull consumer (GKE,
// Compute Engine, or locally against pstest or the gcloud emulator).
//
// Environment:
//
//	EVENTFN_REDIS_URL          idempotency store (redis:// or rediss://); unset:
//	                           an in-memory store (one instance only)
//	ORDERS_IDEMPOTENCY_SCOPE   idempotency scope (default "orders")
//	ORDERS_TIMEOUT             bound on one message, a Go duration (default 55s,
//	                           below the subscription's 60 s ack deadline)
//	ORDERS_DEAD_LETTER_TOPIC   projects/P/topics/T: publish rejected orders there
//	                           and acknowledge them; unset: report them failed,
//	                           so the subscription's dead-letter policy applies
//	PUSH_AUDIENCE              verify push tokens for this audience (unset: no
//	                           verification; rely on Cloud Run IAM)
//	PUSH_SERVICE_ACCOUNT       the push subscription's service account email
//	                           (required with PUSH_AUDIENCE)
//	PUSH_JWKS_URL              signing keys (default Google's; tests use a local key)
//	ORDERS_LEDGER_FILE, ORDERS_FAIL_FIRST_ATTEMPT  see examples/orders
//	PUBSUB_EMULATOR_HOST       publish dead letters to the emulator
package orderfn

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"github.com/GoogleCloudPlatform/functions-framework-go/functions"

	"github.com/eventfn/eventfn/adapters/pubsub"
	"github.com/eventfn/eventfn/adapters/pubsub/pull"
	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/idempotency/redisstore"
	"github.com/eventfn/eventfn/middleware"

	"github.com/eventfn/eventfn/examples/orders"
)

// Function names: the --entry-point of a deployment and, locally, the path.
const (
	CloudEventName = "OrderPlaced"
	PushName       = "OrderPlacedPush"
)

var cfg *config

func init() {
	var err error
	cfg, err = configure(context.Background())
	if err != nil {
		log.Fatalf("orderfn: %v", err)
	}
	functions.CloudEvent(CloudEventName, pubsub.CloudEventFunction(cfg.handler, &pubsub.CloudEventOptions{
		Timeout:    cfg.timeout,
		DeadLetter: cfg.deadLetter,
	}))
	functions.HTTP(PushName, pubsub.NewPushHandler(cfg.handler, &pubsub.PushOptions{
		Verifier:   cfg.verifier,
		Timeout:    cfg.timeout,
		DeadLetter: cfg.deadLetter,
	}).ServeHTTP)
}

// Handler returns the order handler, idempotent on the configured store,
// that both functions run.
func Handler() handler.Handler { return cfg.handler }

// DeadLetter returns the configured dead-letter publisher, or nil.
func DeadLetter() pubsub.DeadLetterFunc { return cfg.deadLetter }

type config struct {
	handler    handler.Handler
	timeout    time.Duration
	deadLetter pubsub.DeadLetterFunc
	verifier   pubsub.TokenVerifier
}

func configure(ctx context.Context) (*config, error) {
	store, err := openStore()
	if err != nil {
		return nil, err
	}
	ttl, err := orders.IdempotencyTTL()
	if err != nil {
		return nil, err
	}
	cfg := &config{
		// The recommended stack: recover, logs (Cloud Logging's JSON),
		// traces, metrics, breaker, then idempotency. In-process retries
		// are off: Pub/Sub redelivers with the subscription's retry policy.
		handler: handler.Chain(orders.NewHandler(orders.ConfigFromEnv()),
			middleware.Defaults(&middleware.Options{
				DisableRetry: true,
				Idempotency:  idempotency.Middleware(store, &idempotency.Options{Scope: getenv("ORDERS_IDEMPOTENCY_SCOPE", "orders"), TTL: ttl}),
			})),
		timeout: 55 * time.Second,
	}
	if v := os.Getenv("ORDERS_TIMEOUT"); v != "" {
		if cfg.timeout, err = time.ParseDuration(v); err != nil {
			return nil, fmt.Errorf("ORDERS_TIMEOUT: %w", err)
		}
	}
	if aud := os.Getenv("PUSH_AUDIENCE"); aud != "" {
		sa := os.Getenv("PUSH_SERVICE_ACCOUNT")
		if sa == "" {
			return nil, errors.New("PUSH_SERVICE_ACCOUNT must name the push subscription's service account when PUSH_AUDIENCE is set: the audience alone proves nothing")
		}
		v := &pubsub.OIDCVerifier{Audience: aud, ServiceAccountEmail: sa}
		if u := os.Getenv("PUSH_JWKS_URL"); u != "" {
			v.Keys = pubsub.NewJWKSKeys(u, nil)
		}
		cfg.verifier = v
	} else {
		slog.Warn("orderfn: PUSH_AUDIENCE is unset; push requests are not authenticated (use Cloud Run IAM)")
	}
	if topic := os.Getenv("ORDERS_DEAD_LETTER_TOPIC"); topic != "" {
		parts := strings.Split(topic, "/")
		if len(parts) != 4 || parts[0] != "projects" || parts[2] != "topics" {
			return nil, fmt.Errorf("ORDERS_DEAD_LETTER_TOPIC %q is not projects/P/topics/T", topic)
		}
		client, err := gpubsub.NewClient(ctx, parts[1])
		if err != nil {
			return nil, fmt.Errorf("dead-letter topic: %w", err)
		}
		// The client lives as long as the process.
		cfg.deadLetter = pull.PublishDeadLetters(client.Publisher(topic))
	}
	return cfg, nil
}

// openStore returns the Redis store named by EVENTFN_REDIS_URL, or an
// in-memory store when it is unset.
func openStore() (idempotency.Store, error) {
	url := os.Getenv("EVENTFN_REDIS_URL")
	if url == "" {
		slog.Warn("orderfn: EVENTFN_REDIS_URL is unset; using an in-memory idempotency store (duplicates across instances are not caught)")
		return memstore.New(nil), nil
	}
	s, err := redisstore.Open(url, nil)
	if err != nil {
		return nil, fmt.Errorf("idempotency store: %w", err)
	}
	return s, nil
}

func getenv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
