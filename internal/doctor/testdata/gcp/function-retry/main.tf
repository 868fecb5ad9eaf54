resource "google_pubsub_topic" "events" {
  name = "events"
}

resource "google_cloudfunctions2_function" "fn" {
  name     = "fn"
  location = "us-central1"
  build_config {
    runtime     = "go126"
    entry_point = "Handle"
  }
  event_trigger {
    trigger_region = "us-central1"
    event_type     = "google.cloud.pubsub.topic.v1.messagePublished"
    pubsub_topic   = google_pubsub_topic.events.id
  }
}
