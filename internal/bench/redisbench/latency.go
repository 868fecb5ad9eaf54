package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

// roundTrips counts the requests a client sends: one per command and one
// per pipeline or transaction, each a network round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmd)
	}
}

func (r *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		r.n.Add(1)
		return next(ctx, cmds)
	}
}

// latencyTable measures, through a proxy that adds network latency (the
// -proxy-url server), one stream and ten streams of 10-record batches
// through the middleware, one record at a time with a claim then a
// completion per record (the pattern of Powertools' idempotency utility),
// and the round trip itself, alternating in rounds so that all four see
// the same conditions. The physical limit of a stream is the records of a
// batch over the round trips a batch needs times the round trip measured
// in the same round.
func latencyTable(proxied *redisstore.Store, latency string, slice time.Duration, rounds int, fresh func()) {
	rt := new(roundTrips)
	proxied.Client().AddHook(rt)
	const size, streams, tripsPerBatch = 10, 10, 2
	var rtts, a, one, b, ratioA, ratioOne, ratioB, tripsA []float64
	// The round trip drifts with the load of a shared machine, so each
	// scenario's limit comes from PINGs just before and just after it.
	ping := func() time.Duration { return pingRTT(proxied.Client(), slice/4) }
	for r := 1; r <= rounds; r++ {
		fresh()
		p0 := ping()
		n0 := rt.n.Load()
		ra, recs := scenario(proxied, "lat-a", 1, size, slice)
		trips := float64(rt.n.Load()-n0) / float64(recs/size+1) // +1: the warm-up batch
		p1 := ping()
		fresh()
		r1 := oneAtATime(proxied, slice)
		p2 := ping()
		fresh()
		rb, _ := scenario(proxied, "lat-b", streams, size, slice)
		p3 := ping()
		rttA, rttOne := (p0+p1)/2, (p1+p2)/2
		rtt := (p0 + p1 + p2 + p3) / 4
		limit := size / (tripsPerBatch * rttA.Seconds())
		fmt.Printf("latency round %d: round trip %.3f ms  |  (a) %.0f = %.0f%% of %.0f  |  one at a time %.0f = %.0f%% of %.0f  |  (b) %.0f = %.1fx one at a time  |  %.2f round trips per batch\n",
			r, ms(rtt), ra, 100*ra/limit, limit, r1, 100*r1*2*rttOne.Seconds(), 1/(2*rttOne.Seconds()), rb, rb/r1, trips)
		rtts, a, one, b = append(rtts, ms(rtt)), append(a, ra), append(one, r1), append(b, rb)
		ratioA, ratioOne, ratioB = append(ratioA, ra/limit), append(ratioOne, r1*2*rttOne.Seconds()), append(ratioB, rb/r1)
		tripsA = append(tripsA, trips)
	}
	rtt := median(rtts) / 1e3
	fmt.Println()
	fmt.Printf("through Toxiproxy with %s of latency on the server's replies; medians of %d alternating rounds (lowest-highest):\n", latency, rounds)
	fmt.Printf("round trip through the proxy (PING, back to back):   %6.3f ms        (rounds %s; each scenario's limit uses the PINGs around it)\n", median(rtts), spread(rtts, " ms", 1))
	fmt.Printf("round trips per 10-record batch, counted:             %6.2f           (rounds %s)\n", median(tripsA), spread(tripsA, "", 1))
	fmt.Printf("(a) 10-record batches, one stream:            %8.0f records/s  limit 10 / (2 x round trip) = %.0f (at the median round trip)\n", median(a), size/(tripsPerBatch*rtt))
	fmt.Printf("    ratio to the limit:                       %7.0f%%             (target >= 85%%; rounds %s)\n", 100*median(ratioA), spread(ratioA, "%", 100))
	fmt.Printf("one record at a time, claim then complete:    %8.0f records/s  limit 1 / (2 x round trip) = %.0f (%.0f%%)\n", median(one), 1/(2*rtt), 100*median(ratioOne))
	fmt.Printf("(b) 10 streams of 10-record batches:          %8.0f records/s  limit 10 streams x 10 / (2 x round trip) = %.0f (%.0f%%)\n", median(b), streams*size/(tripsPerBatch*rtt), 100*median(b)*tripsPerBatch*rtt/(streams*size))
	fmt.Printf("    ratio to one record at a time:            %7.1fx             (target >= 8x; rounds %s)\n", median(ratioB), spread(ratioB, "x", 1))
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// pingRTT returns the mean time of back-to-back PINGs on one connection
// over d: the round trip a stream of requests sees.
func pingRTT(c redis.UniversalClient, d time.Duration) time.Duration {
	ctx := context.Background()
	rate, _ := throughput(1, d, func() int {
		if err := c.Ping(ctx).Err(); err != nil {
			fail("PING", err)
		}
		return 1
	})
	return time.Duration(float64(time.Second) / rate)
}

// oneAtATime claims and then completes one record at a time, one stream,
// for d, and returns records per second: two round trips per record.
func oneAtATime(store *redisstore.Store, d time.Duration) float64 {
	ctx := context.Background()
	prefix := fmt.Sprintf("one-%d-", time.Now().UnixNano())
	var n int
	rate, _ := throughput(1, d, func() int {
		n++
		key := prefix + strconv.Itoa(n)
		c, err := store.Claim(ctx, idempotency.ClaimRequest{Key: key, Fingerprint: idempotency.HashKey("fp", key), Lease: time.Minute})
		if err != nil || !c.Acquired {
			fail("one at a time: claim", fmt.Sprint(c.Acquired, err))
		}
		if err := store.Complete(ctx, key, c.Token, nil, time.Hour); err != nil {
			fail("one at a time: complete", err)
		}
		return 1
	})
	return rate
}

// checkProxy fails fast when nothing listens at the proxy's address.
func checkProxy(url string) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		fail("-proxy-url", err)
	}
	conn, err := net.DialTimeout("tcp", opt.Addr, 2*time.Second)
	if err != nil {
		fail("-proxy-url", err)
	}
	conn.Close()
}
