// Package testenv finds the real servers that integration tests need.
//
// scripts/test.sh installs and starts every server on a free loopback port
// and exports its address in an environment variable; it also sets
// EVENTFN_REQUIRE_SERVICES=1, which turns a missing server from a skip into a
// test failure, so CI can never pass by skipping. Run alone, `go test ./...`
// skips the integration tests whose server is not configured.
package testenv

import (
	"net"
	"os"
	"testing"
)

// Environment variables exported by scripts/test.sh.
const (
	RedisURL         = "EVENTFN_REDIS_URL"         // redis://127.0.0.1:PORT/0
	SQSEndpoint      = "AWS_ENDPOINT_URL_SQS"      // fauxqs, http://127.0.0.1:PORT
	SNSEndpoint      = "AWS_ENDPOINT_URL_SNS"      // fauxqs, same server as SQS
	DynamoDBEndpoint = "AWS_ENDPOINT_URL_DYNAMODB" // DynamoDB Local, http://127.0.0.1:PORT
	PubSubEmulator   = "PUBSUB_EMULATOR_HOST"      // pstest, 127.0.0.1:PORT
	RIEBinary        = "EVENTFN_RIE_BIN"           // path to aws-lambda-rie
	RequireServices  = "EVENTFN_REQUIRE_SERVICES"  // "1": missing servers fail tests
)

// Getenv returns the value of the environment variable name. When it is
// empty the test is skipped, or failed when EVENTFN_REQUIRE_SERVICES=1.
func Getenv(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if os.Getenv(RequireServices) == "1" {
			t.Fatalf("testenv: %s is not set but EVENTFN_REQUIRE_SERVICES=1; run the tests with scripts/test.sh", name)
		}
		t.Skipf("testenv: %s not set; run scripts/test.sh to start the real servers", name)
	}
	return v
}

// Redis returns the URL of the test redis-server.
func Redis(t testing.TB) string { t.Helper(); return Getenv(t, RedisURL) }

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
