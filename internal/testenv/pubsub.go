package testenv

import "testing"

// PubSubProject is the environment variable naming the Google Cloud project
// the Pub/Sub tests use against the emulator (any name works on pstest).
const PubSubProject = "PUBSUB_PROJECT_ID"

// PubSub returns the host:port of the pstest server started by
// scripts/services/pubsub.sh (PUBSUB_EMULATOR_HOST). Pub/Sub clients created
// while it is set talk to the emulator without credentials.
func PubSub(t testing.TB) string { t.Helper(); return Getenv(t, PubSubEmulator) }
