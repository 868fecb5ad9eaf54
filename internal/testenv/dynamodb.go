package testenv

import "testing"

// DynamoDB returns the endpoint of the test DynamoDB Local server
// (http://127.0.0.1:PORT), started by scripts/services/dynamodb.sh.
func DynamoDB(t testing.TB) string { t.Helper(); return Getenv(t, DynamoDBEndpoint) }
