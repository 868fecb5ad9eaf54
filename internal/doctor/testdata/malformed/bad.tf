resource "google_pubsub_topic" "t" {
  name = 
}
