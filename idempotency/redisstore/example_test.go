package redisstore_test

import (
	"log"
	"os"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency/redisstore"
)

// Open checks the server before it returns: a store that is down is named
// at start-up.
func ExampleOpen() {
	store, err := redisstore.Open(os.Getenv("REDIS_URL"), nil) // e.g. rediss://user:password@host:6380/0
	if err != nil {
		log.Fatal(err) // names the URL, without its password, and what to check
	}
	defer store.Close()
}

// A process that must start while Redis may be down makes a store that
// connects on first use; calls fail with idempotency.ErrStore until the
// server answers.
func ExampleParseURL() {
	o, err := redisstore.ParseURL(os.Getenv("REDIS_URL"))
	if err != nil {
		log.Fatal(err)
	}
	store := redisstore.New(redis.NewClient(o), nil)
	defer store.Close()
}
