#!/usr/bin/env bash
# Deploys orders to Google Cloud with terraform/ (topic, push subscription
# with dead-letter and retry policies, dead-letter topic and the
# subscription that keeps its messages, IAM, the function and the
# dead-letter alert policy).
#
# Environment: PROJECT (default: gcloud's configured project), REGION
# (default us-central1). Further terraform variables: TF_VAR_name=value;
# TF_VAR_redis_url_secret names the Secret Manager secret holding the Redis
# URL (gcloud secrets create NAME --data-file=-).
#
# Every command's failure stops the script, including one inside $(...):
# errexit is inherited by command substitutions, and each substitution is
# a plain assignment, whose status is the substitution's.
set -euo pipefail
shopt -s inherit_errexit

here=$(dirname "$0")
cd "$here"

if [ -z "${PROJECT:-}" ]; then
	PROJECT=$(gcloud config get-value project)
fi
if [ -z "$PROJECT" ]; then
	echo "deploy: set PROJECT or run gcloud config set project" >&2
	exit 2
fi
REGION=${REGION:-us-central1}

log() { printf '[deploy] %s\n' "$*" >&2; }

# A replace directive points outside the project, where the build service
# cannot see: copy the replaced modules into vendor/ first.
vendored=0
if grep -q '^replace' go.mod; then
	log "vendoring the replaced modules"
	go mod vendor
	vendored=1
fi
cleanup() {
	if [ "$vendored" = 1 ]; then
		rm -rf vendor
	fi
}
trap cleanup EXIT

log "project $PROJECT, region $REGION"
gcloud services enable --project="$PROJECT" pubsub.googleapis.com run.googleapis.com \
	cloudbuild.googleapis.com cloudfunctions.googleapis.com artifactregistry.googleapis.com \
	secretmanager.googleapis.com monitoring.googleapis.com
terraform -chdir=terraform init -input=false
terraform -chdir=terraform apply -input=false -var="project=$PROJECT" -var="region=$REGION"
log "publish a test event: gcloud pubsub topics publish orders --project=$PROJECT --message='{\"id\":\"o-1\",\"customer\":\"c-1\",\"amount_cents\":1250}'"
