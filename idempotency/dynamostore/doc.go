// Package dynamostore is an idempotency.Store on Amazon DynamoDB
// (aws-sdk-go-v2), one item per key.
//
//	store, err := dynamostore.Open(ctx, "idempotency", nil) // default AWS config
//	// or: store := dynamostore.New(dynamodb.NewFromConfig(cfg), "idempotency", nil)
//	h := idempotency.Middleware(store, &idempotency.Options{Scope: "orders"})(orders)
//
// # Table
//
// One table, on-demand, with a string partition key and TTL on the expiry
// attribute. CreateTable makes it (for tests and quick starts); in
// production declare it with the function, for example in CloudFormation or
// SAM:
//
//	IdempotencyTable:
//	  Type: AWS::DynamoDB::Table
//	  Properties:
//	    BillingMode: PAY_PER_REQUEST
//	    AttributeDefinitions:
//	      - AttributeName: pk
//	        AttributeType: S
//	    KeySchema:
//	      - AttributeName: pk
//	        KeyType: HASH
//	    TimeToLiveSpecification:
//	      AttributeName: expiry
//	      Enabled: true
//
// The function needs dynamodb:GetItem, PutItem, UpdateItem and DeleteItem on
// the table, and DescribeTable when it uses Open, which checks the table
// (CreateTable also needs CreateTable, DescribeTimeToLive and
// UpdateTimeToLive).
//
// An item holds (default attribute names, see Options): pk, the key;
// status, IN_PROGRESS or COMPLETED; token, the fencing token; fingerprint
// (a string, or binary when it is not valid UTF-8); result (binary, the
// stored result of idempotency.Do); expiry_ms, when the lease (IN_PROGRESS)
// or the record (COMPLETED) ends, in epoch milliseconds; and expiry, the
// same in epoch seconds rounded up, for DynamoDB TTL.
//
// Keys that DynamoDB cannot store as they are (empty, longer than 2048
// bytes, not valid UTF-8) are stored as "#sha256:" and the hex SHA-256 of
// the key; so is any key that itself starts with "#sha256:", so two keys
// never share an item. The keys idempotency.Middleware uses are already
// 22-byte hashes and are stored as they are.
//
// # Consistency
//
//   - Claim is one conditional PutItem: it writes the IN_PROGRESS item if no
//     item exists or the existing one has expired (expiry_ms is past: a
//     completed record past its TTL, or a claim past its lease). When the
//     condition fails, DynamoDB returns the blocking item with the error
//     (ReturnValuesOnConditionCheckFailure ALL_OLD), so a duplicate costs
//     one call and one write capacity unit.
//   - Complete and Extend are an UpdateItem and Release a DeleteItem, each
//     conditioned on the claim's token, the IN_PROGRESS status and an
//     unexpired lease; a stale token gets idempotency.ErrLeaseLost and
//     changes nothing. Extend moves both expiry attributes.
//   - Get is a strongly consistent GetItem.
//   - DynamoDB's TTL deletes expired items lazily (within days), so every
//     condition and Get compares expiry_ms with the clock: an expired item
//     still in the table is free to claim and reads as not found.
//   - The SDK retries throttling and network errors (its default: 3
//     attempts). A claim or completion whose first attempt was written but
//     whose response was lost recognizes its own write on the retry and
//     succeeds. Errors that remain are returned wrapped with
//     idempotency.ErrStore, never taken for success: the message fails and
//     is redelivered.
//   - Every call ends by its context's deadline, the SDK's retries and
//     their backoff included, also when the endpoint stops answering.
//
// Leases and expiries are measured with the clients' clocks (Options.Now);
// DynamoDB has no server-side clock in conditions. Keep instances' clocks
// in sync (Lambda's are) and leases well above any skew.
//
// # Batches
//
// DynamoDB has no conditional batch write that reports per item, so the
// BatchStore methods run one call per item, Options.Concurrency (default
// 10) at a time: a batch of 10 costs one round trip of wall time and 10
// requests.
package dynamostore
