// Package redisstore is an idempotency.Store on Redis (github.com/redis/go-redis/v9),
// for a single node, a replicated setup or Redis Cluster.
//
// # Records
//
// One string key per record, "<prefix><key>", so every operation touches a
// single key and works under Redis Cluster's slot rules. A claim is one plain
// command, SET key rec NX PX lease GET (Redis 7): it writes the IN_PROGRESS
// record if the key is absent and returns the existing record otherwise, and
// the server's own expiry frees a crashed claim when the lease runs out, on
// the server's clock. Complete, Release and Extend compare the claim's
// token in a small Lua script (EVALSHA), because only a script can compare
// and write atomically; Extend moves both the lease the record holds and
// the key's PX. Batches cost one round trip each: claims are pipelined; on a
// single node one script call completes (or releases) a whole batch, and on
// a cluster the per-key scripts are pipelined so no script spans two slots.
//
// On a single node the common case skips the script: the claim pipeline
// ends with WATCH on the batch's keys, and a batch completed in one call is
// finished by a MULTI/EXEC of plain SETs on the same connection, which the
// server aborts if any of those keys was written or expired since the
// claim; only then does the script run, to tell which claims still hold.
// A plain transaction costs the server less than a script that reads and
// writes every key.
// Options.DisableSessions turns this path off.
//
// # URLs
//
// Open takes the standard redis:// and rediss:// (TLS) URLs, with AUTH from
// the user info: rediss://user:password@host:6380/0. OpenCluster takes a
// cluster URL, redis://host1:6379?addr=host2:6379&addr=host3:6379. Both
// check the server before they return, and their clients end every call
// by its context's deadline.
//
// Requires Redis 7.0 or later (SET ... NX GET).
package redisstore
