#!/usr/bin/env bash
# Deploys the orders example to Google Cloud with gcloud, either
#
#   ./deploy.sh function   a Cloud Function (2nd gen) triggered by the topic,
#                          with retries enabled (the default), or
#   ./deploy.sh run        a Cloud Run service fed by an authenticated push
#                          subscription (OIDC token verified by the handler).
#
# Both create, idempotently:
#   - the orders topic and the dead-letter topic, with a pull subscription on
#     the dead-letter topic so dead letters are kept (7 days) and can be
#     inspected or redriven (eventfn dlq);
#   - the subscription feeding the code with a dead-letter policy
#     (MAX_DELIVERY_ATTEMPTS, default 5) and an exponential-backoff retry
#     policy (10 s to 600 s);
#   - the IAM bindings the dead-letter policy needs: the Pub/Sub service agent
#     publishes to the dead-letter topic and subscribes to the subscription;
#   - an alert policy on the dead-letter subscription's backlog (skip with
#     CREATE_ALERT=0).
#
# Environment: PROJECT (default: gcloud's), REGION (us-central1),
# EVENTFN_REDIS_URL (required: the idempotency store, e.g. Memorystore;
# VPC_CONNECTOR names the Serverless VPC connector that reaches it),
# RUNTIME (go126; see `gcloud functions runtimes list`), TOPIC (orders).
#
# The example's go.mod replaces the eventfn modules with ../.. and ../orders,
# which the build service cannot see: the source is staged with
# `go mod vendor`, which copies them into vendor/.
set -euo pipefail
cd "$(dirname "$0")"

MODE=${1:-function}
PROJECT=${PROJECT:-$(gcloud config get-value project 2>/dev/null)}
REGION=${REGION:-us-central1}
RUNTIME=${RUNTIME:-go126}
TOPIC=${TOPIC:-orders}
DLQ_TOPIC=${DLQ_TOPIC:-$TOPIC-dead-letter}
DLQ_SUB=${DLQ_SUB:-$DLQ_TOPIC-keep}
MAX_DELIVERY_ATTEMPTS=${MAX_DELIVERY_ATTEMPTS:-5}
REDIS_URL=${EVENTFN_REDIS_URL:?set EVENTFN_REDIS_URL to the Redis idempotency store (redis:// or rediss://)}
: "${PROJECT:?set PROJECT or run gcloud config set project}"

log() { printf '[deploy] %s\n' "$*" >&2; }
gc() { gcloud --project="$PROJECT" --quiet "$@"; }

PROJECT_NUMBER=$(gc projects describe "$PROJECT" --format='value(projectNumber)')
PUBSUB_AGENT="serviceAccount:service-$PROJECT_NUMBER@gcp-sa-pubsub.iam.gserviceaccount.com"
VPC_FLAGS=()
[ -n "${VPC_CONNECTOR:-}" ] && VPC_FLAGS=(--vpc-connector="$VPC_CONNECTOR")

ensure_topic() {
	gc pubsub topics describe "$1" >/dev/null 2>&1 || gc pubsub topics create "$1"
}

ensure_sa() { # NAME DESCRIPTION -> prints the email
	local email="$1@$PROJECT.iam.gserviceaccount.com"
	gc iam service-accounts describe "$email" >/dev/null 2>&1 ||
		gc iam service-accounts create "$1" --display-name="$2" >&2
	echo "$email"
}

# dead_letter_policy SUBSCRIPTION: dead-letter and retry policy, and the IAM
# the dead-letter policy needs.
dead_letter_policy() {
	local sub=$1
	log "subscription $sub: dead letters to $DLQ_TOPIC after $MAX_DELIVERY_ATTEMPTS attempts, backoff 10s..600s"
	gc pubsub subscriptions update "$sub" \
		--dead-letter-topic="$DLQ_TOPIC" --max-delivery-attempts="$MAX_DELIVERY_ATTEMPTS" \
		--min-retry-delay=10s --max-retry-delay=600s
	gc pubsub topics add-iam-policy-binding "$DLQ_TOPIC" --member="$PUBSUB_AGENT" --role=roles/pubsub.publisher >/dev/null
	gc pubsub subscriptions add-iam-policy-binding "$sub" --member="$PUBSUB_AGENT" --role=roles/pubsub.subscriber >/dev/null
}

stage_source() { # prints a directory with the vendored source
	local stage
	stage=$(mktemp -d)
	go mod vendor
	cp -r go.mod go.sum ./*.go cmd vendor "$stage"/
	rm -rf vendor
	echo "$stage"
}

log "project $PROJECT, region $REGION, mode $MODE"
gc services enable pubsub.googleapis.com run.googleapis.com cloudbuild.googleapis.com \
	cloudfunctions.googleapis.com eventarc.googleapis.com artifactregistry.googleapis.com monitoring.googleapis.com
ensure_topic "$TOPIC"
ensure_topic "$DLQ_TOPIC"
gc pubsub subscriptions describe "$DLQ_SUB" >/dev/null 2>&1 ||
	gc pubsub subscriptions create "$DLQ_SUB" --topic="$DLQ_TOPIC" --message-retention-duration=7d --ack-deadline=60
SRC=$(stage_source)
trap 'rm -rf "$SRC"' EXIT
RUNTIME_SA=$(ensure_sa orders-runtime "orders example runtime")
gc pubsub topics add-iam-policy-binding "$DLQ_TOPIC" --member="serviceAccount:$RUNTIME_SA" --role=roles/pubsub.publisher >/dev/null

case "$MODE" in
function)
	TRIGGER_SA=$(ensure_sa orders-trigger "orders example Eventarc trigger")
	# --retry: without it the platform drops an event whose function fails.
	log "deploying Cloud Function orders-placed (retries enabled)"
	gc functions deploy orders-placed --gen2 --region="$REGION" --runtime="$RUNTIME" \
		--source="$SRC" --entry-point=OrderPlaced \
		--trigger-topic="$TOPIC" --retry --trigger-service-account="$TRIGGER_SA" \
		--run-service-account="$RUNTIME_SA" --timeout=60s "${VPC_FLAGS[@]}" \
		--set-env-vars="EVENTFN_REDIS_URL=$REDIS_URL,ORDERS_IDEMPOTENCY_SCOPE=orders-function,ORDERS_TIMEOUT=55s"
	gc functions add-invoker-policy-binding orders-placed --region="$REGION" --member="serviceAccount:$TRIGGER_SA" >/dev/null
	TRIGGER=$(gc functions describe orders-placed --gen2 --region="$REGION" --format='value(eventTrigger.trigger)')
	SUB=$(gc eventarc triggers describe "$TRIGGER" --format='value(transport.pubsub.subscription)')
	dead_letter_policy "$SUB"
	;;
run)
	PUSH_SA=$(ensure_sa orders-push "orders example push subscription")
	log "deploying Cloud Run service orders-push"
	gc run deploy orders-push --region="$REGION" --source="$SRC" \
		--function=OrderPlacedPush --base-image="$RUNTIME" \
		--no-allow-unauthenticated --service-account="$RUNTIME_SA" --timeout=60s "${VPC_FLAGS[@]}" \
		--set-env-vars="EVENTFN_REDIS_URL=$REDIS_URL,ORDERS_IDEMPOTENCY_SCOPE=orders-push,ORDERS_TIMEOUT=55s"
	URL=$(gc run services describe orders-push --region="$REGION" --format='value(status.url)')
	# The handler verifies the push token too: audience and service account.
	gc run services update orders-push --region="$REGION" \
		--update-env-vars="PUSH_AUDIENCE=$URL,PUSH_SERVICE_ACCOUNT=$PUSH_SA"
	gc run services add-iam-policy-binding orders-push --region="$REGION" \
		--member="serviceAccount:$PUSH_SA" --role=roles/run.invoker >/dev/null
	# The Pub/Sub service agent mints the push tokens.
	gc iam service-accounts add-iam-policy-binding "$PUSH_SA" \
		--member="$PUBSUB_AGENT" --role=roles/iam.serviceAccountTokenCreator >/dev/null
	SUB=$TOPIC-push
	if ! gc pubsub subscriptions describe "$SUB" >/dev/null 2>&1; then
		gc pubsub subscriptions create "$SUB" --topic="$TOPIC" --ack-deadline=60 \
			--push-endpoint="$URL" --push-auth-service-account="$PUSH_SA" --push-auth-token-audience="$URL"
	fi
	dead_letter_policy "$SUB"
	;;
*)
	echo "usage: $0 function|run" >&2
	exit 2
	;;
esac

if [ "${CREATE_ALERT:-1}" = 1 ]; then
	# A dead-letter topic nobody watches is a loss with extra steps.
	log "alert policy: dead letters waiting on $DLQ_SUB"
	policy=$(mktemp)
	cat >"$policy" <<JSON
{
  "displayName": "orders: dead letters on $DLQ_SUB",
  "combiner": "OR",
  "conditions": [{
    "displayName": "undelivered messages on $DLQ_SUB > 0",
    "conditionThreshold": {
      "filter": "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"$DLQ_SUB\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\"",
      "comparison": "COMPARISON_GT",
      "thresholdValue": 0,
      "duration": "300s",
      "aggregations": [{"alignmentPeriod": "60s", "perSeriesAligner": "ALIGN_MAX"}]
    }
  }]
}
JSON
	if ! gc alpha monitoring policies list --filter="displayName=\"orders: dead letters on $DLQ_SUB\"" --format='value(name)' | grep -q .; then
		gc alpha monitoring policies create --policy-from-file="$policy"
	fi
	rm -f "$policy"
	log "add a notification channel to the policy in Cloud Monitoring to be told"
fi
log "done: publish with  gcloud pubsub topics publish $TOPIC --message='{\"id\":\"o-1\",\"customer\":\"c-1\",\"amount_cents\":1250}'"
