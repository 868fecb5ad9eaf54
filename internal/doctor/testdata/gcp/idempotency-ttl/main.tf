# order-events on Google Cloud: a topic, a push subscription with dead-letter
# and retry policies feeding a 2nd gen Cloud Function, a dead-letter topic
# whose subscription keeps the dead letters, the IAM the Pub/Sub service
# agent needs for both, and an alert
# policy on the dead-letter backlog. deploy.sh runs terraform apply.

terraform {
  required_version = ">= 1.5"
  required_providers {
    google = {
      source  = "hashicorp/google"
      version = ">= 6.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.4"
    }
  }
}

provider "google" {
  project = var.project
  region  = var.region
}

data "google_project" "this" {}

locals {
  pubsub_agent = "serviceAccount:service-${data.google_project.this.number}@gcp-sa-pubsub.iam.gserviceaccount.com"
}

resource "google_pubsub_topic" "events" {
  name = var.name
}

resource "google_pubsub_topic" "dead_letter" {
  name = "${var.name}-dead-letter"
}

# Without a subscription, messages published to the dead-letter topic are
# dropped: this one keeps them for 7 days, for `eventfn dlq`.
resource "google_pubsub_subscription" "dead_letter" {
  name                       = "${var.name}-dead-letter-keep"
  topic                      = google_pubsub_topic.dead_letter.id
  ack_deadline_seconds       = 60
  message_retention_duration = "604800s"
  expiration_policy {
    ttl = "" # never expires
  }
}

resource "google_service_account" "runtime" {
  account_id   = "${var.name}-run"
  display_name = "${var.name} function runtime"
}

resource "google_service_account" "push" {
  account_id   = "${var.name}-push"
  display_name = "${var.name} push subscription"
}

resource "google_storage_bucket" "source" {
  name                        = "${var.project}-${var.name}-source"
  location                    = var.region
  uniform_bucket_level_access = true
}

# The project's source, which Cloud Build compiles for the function.
data "archive_file" "source" {
  type        = "zip"
  source_dir  = "${path.module}/.."
  output_path = "${path.module}/source.zip"
  excludes    = ["terraform/**", ".git/**", "events/**", "bootstrap", "handler"]
}

resource "google_storage_bucket_object" "source" {
  name   = "source-${data.archive_file.source.output_md5}.zip"
  bucket = google_storage_bucket.source.name
  source = data.archive_file.source.output_path
}

resource "google_cloudfunctions2_function" "fn" {
  name     = var.name
  location = var.region

  build_config {
    runtime     = var.runtime
    entry_point = "OrderEvents"
    source {
      storage_source {
        bucket = google_storage_bucket.source.name
        object = google_storage_bucket_object.source.name
      }
    }
  }

  service_config {
    # Above the push adapter's 55 s bound, below the 60 s ack deadline.
    timeout_seconds                = 60
    max_instance_count             = 10
    available_memory               = "256M"
    service_account_email          = google_service_account.runtime.email
    ingress_settings               = "ALLOW_ALL"
    all_traffic_on_latest_revision = true
    vpc_connector                  = var.vpc_connector
    environment_variables = {
      # Equal to the push subscription's message retention.
    }
  }
}

# Only the push subscription's service account may invoke the function.
resource "google_cloud_run_service_iam_member" "push_invokes" {
  location = google_cloudfunctions2_function.fn.location
  service  = google_cloudfunctions2_function.fn.name
  role     = "roles/run.invoker"
  member   = "serviceAccount:${google_service_account.push.email}"
}

# The Pub/Sub service agent mints the push subscription's OIDC tokens.
resource "google_service_account_iam_member" "agent_mints_push_tokens" {
  service_account_id = google_service_account.push.name
  role               = "roles/iam.serviceAccountTokenCreator"
  member             = local.pubsub_agent
}

# Push retries are Pub/Sub's: a non-2xx answer is redelivered with
# exponential backoff, and dead-lettered after max_delivery_attempts.
resource "google_pubsub_subscription" "push" {
  name                       = "${var.name}-push"
  topic                      = google_pubsub_topic.events.id
  ack_deadline_seconds       = 60
  message_retention_duration = "345600s"
  expiration_policy {
    ttl = ""
  }

  push_config {
    push_endpoint = google_cloudfunctions2_function.fn.service_config[0].uri
    oidc_token {
      service_account_email = google_service_account.push.email
      audience              = google_cloudfunctions2_function.fn.service_config[0].uri
    }
  }

  dead_letter_policy {
    dead_letter_topic     = google_pubsub_topic.dead_letter.id
    max_delivery_attempts = var.max_delivery_attempts
  }

  retry_policy {
    minimum_backoff = "10s"
    maximum_backoff = "600s"
  }

  depends_on = [google_cloud_run_service_iam_member.push_invokes]
}

# The dead-letter policy needs the service agent to publish to the
# dead-letter topic and to subscribe to (acknowledge on) the source
# subscription; without them messages are never forwarded.
resource "google_pubsub_topic_iam_member" "agent_publishes_dead_letters" {
  topic  = google_pubsub_topic.dead_letter.id
  role   = "roles/pubsub.publisher"
  member = local.pubsub_agent
}

resource "google_pubsub_subscription_iam_member" "agent_subscribes_push" {
  subscription = google_pubsub_subscription.push.id
  role         = "roles/pubsub.subscriber"
  member       = local.pubsub_agent
}

# A dead-letter topic nobody watches is a loss with extra steps.
resource "google_monitoring_alert_policy" "dead_letters" {
  display_name          = "${var.name}: dead letters waiting"
  combiner              = "OR"
  notification_channels = var.notification_channels
  conditions {
    display_name = "undelivered messages on ${google_pubsub_subscription.dead_letter.name} > 0"
    condition_threshold {
      filter          = "resource.type = \"pubsub_subscription\" AND resource.labels.subscription_id = \"${google_pubsub_subscription.dead_letter.name}\" AND metric.type = \"pubsub.googleapis.com/subscription/num_undelivered_messages\""
      comparison      = "COMPARISON_GT"
      threshold_value = 0
      duration        = "300s"
      aggregations {
        alignment_period   = "60s"
        per_series_aligner = "ALIGN_MAX"
      }
    }
  }
}

output "topic" {
  value = google_pubsub_topic.events.id
}

output "dead_letter_subscription" {
  value = google_pubsub_subscription.dead_letter.id
}

output "function_uri" {
  value = google_cloudfunctions2_function.fn.service_config[0].uri
}
