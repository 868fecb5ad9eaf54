// Command redisbench measures idempotent records per second through
// idempotency.Middleware on Redis with a no-op handler, and compares them
// with redis-benchmark's plain SET NX on the same server in the same run.
// With -proxy-url (the same server behind a proxy that adds latency) it
// first compares them, over that latency, with the protocol's limit and
// with one record at a time. scripts/bench-redis.sh runs it (-latency 1ms
// for the proxy).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventfn/eventfn/handler"
	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/redisstore"
)

func main() {
	url := flag.String("redis-url", os.Getenv("EVENTFN_REDIS_URL"), "Redis URL")
	port := flag.Int("port", 0, "Redis port for redis-benchmark")
	dur := flag.Duration("duration", 7*time.Second, "time per scenario, split over the rounds")
	rounds := flag.Int("rounds", 7, "rounds that alternate each scenario with its reference")
	flush := flag.Bool("flush", false, "empty the server (FLUSHALL) before each measurement, so that each starts from an empty keyspace; only for a server started for the bench")
	proxyURL := flag.String("proxy-url", "", "URL of the same Redis through a proxy that adds network latency: measure the latency table first")
	latency := flag.String("latency", "", "the latency the proxy adds, as printed in the latency table's title")
	loopback := flag.Bool("loopback", true, "measure the loopback table (redis-benchmark references included)")
	flag.Parse()
	if *url == "" || (*loopback && *port == 0) || *rounds < 1 || (!*loopback && *proxyURL == "") {
		fmt.Fprintln(os.Stderr, "usage: redisbench -redis-url URL -port PORT [-duration 7s] [-rounds 7] [-flush] [-proxy-url URL -latency 1ms [-loopback=false]]")
		os.Exit(2)
	}
	store, err := redisstore.Open(*url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer store.Close()

	// Keys pile up over a run (millions by its end), and a growing keyspace
	// makes the server slower in steps as its tables grow: with -flush each
	// measurement starts from an empty one.
	fresh := func() {
		if *flush {
			if err := store.Client().FlushAll(context.Background()).Err(); err != nil {
				fail("FLUSHALL", err)
			}
		}
	}
	slice := *dur / time.Duration(*rounds)
	if *proxyURL != "" {
		checkProxy(*proxyURL)
		proxied, err := redisstore.Open(*proxyURL, nil)
		if err != nil {
			fail("-proxy-url", err)
		}
		latencyTable(proxied, *latency, slice, *rounds, fresh)
		proxied.Close()
		if *loopback {
			fmt.Println()
			fmt.Println("on loopback, without the proxy:")
		}
	}
	if *loopback {
		loopbackTable(store, *port, *dur, *rounds, fresh)
	}
}

// loopbackTable measures the scenarios on loopback, each alternating with
// its redis-benchmark reference.
func loopbackTable(store *redisstore.Store, port int, dur time.Duration, rounds int, fresh func()) {
	// Loopback latency on a shared VM drifts by 2x within minutes, so each
	// scenario alternates with its redis-benchmark reference in short
	// rounds: both see the same conditions, and the ratios are the medians
	// of the rounds' ratios.
	slice := dur / time.Duration(rounds)
	var a, b, b1, floor, ref1, ref50, ratioA, ratioB, ratioB1, ratioFloor []float64
	var bClientCPU, bServerCPU, ref50ServerCPU []float64 // µs per record or request
	for r := 1; r <= rounds; r++ {
		fresh()
		ra, _ := scenario(store, "a", 1, 10, slice)
		fresh()
		rf := storeFloor(store, slice)
		fresh()
		r1 := redisBenchmark(port, 1, 1, int(15_000*slice.Seconds()))
		fresh()
		c0 := cpuNow(store.Client())
		rb, nb := scenario(store, "b", 10, 10, slice)
		c1 := cpuNow(store.Client())
		bClientCPU = append(bClientCPU, (c1.client-c0.client).Seconds()*1e6/float64(nb))
		bServerCPU = append(bServerCPU, (c1.server-c0.server).Seconds()*1e6/float64(nb))
		// (b) again with the client on one thread, as redis-benchmark's
		// is: on a small machine the client's threads share the cores with
		// the server.
		fresh()
		procs := runtime.GOMAXPROCS(1)
		rb1, _ := scenario(store, "b1", 10, 10, slice)
		runtime.GOMAXPROCS(procs)
		fresh()
		n50 := max(500_000, int(300_000*slice.Seconds()))
		s0 := cpuNow(store.Client()).server
		r50 := redisBenchmark(port, 50, 16, n50)
		ref50ServerCPU = append(ref50ServerCPU, (cpuNow(store.Client()).server-s0).Seconds()*1e6/float64(n50))
		fmt.Printf("round %d: (a) %.0f  floor %.0f  -c1 -P1 %.0f  |  (b) %.0f  one thread %.0f  -c50 -P16 %.0f  |  (a) %.2fx  floor %.2fx  (b) %.0f%%  one thread %.0f%%\n",
			r, ra, rf, r1, rb, rb1, r50, ra/r1, rf/r1, 100*rb/r50, 100*rb1/r50)
		a, b, floor, ref1, ref50 = append(a, ra), append(b, rb), append(floor, rf), append(ref1, r1), append(ref50, r50)
		ratioA, ratioB, ratioFloor = append(ratioA, ra/r1), append(ratioB, rb/r50), append(ratioFloor, rf/r1)
		b1, ratioB1 = append(b1, rb1), append(ratioB1, rb1/r50)
	}
	fresh()
	c, _ := scenario(store, "c", 1, 1000, dur)
	fresh()
	srvTotal, srvParts := serverTime(store, slice)
	fresh()
	phaseTimes := phases(store, 10_000)
	fresh()
	go1 := goSetNX(store.Client(), 1, 1, dur)
	fresh()
	go50 := goSetNX(store.Client(), 50, 16, dur)

	fmt.Println()
	fmt.Printf("medians of %d alternating rounds:\n", rounds)
	fmt.Printf("(a) 10-record batches, one stream:          %10.0f records/s\n", median(a))
	fmt.Printf("(b) 10 concurrent streams of 10-record:      %10.0f records/s\n", median(b))
	fmt.Printf("(b) the same, client on one thread:          %10.0f records/s (GOMAXPROCS=1, like redis-benchmark)\n", median(b1))
	fmt.Printf("(c) 1000-record batches, one stream:         %10.0f records/s (one run)\n", c)
	fmt.Printf("redis-benchmark SET NX EX 60 -c 1 -P 1:      %10.0f ops/s\n", median(ref1))
	fmt.Printf("redis-benchmark SET NX EX 60 -c 50 -P 16:    %10.0f ops/s\n", median(ref50))
	fmt.Printf("go-redis SET NX EX 60, 1 client, no pipeline:  %7.0f ops/s  (same client library, same process, one run)\n", go1)
	fmt.Printf("go-redis SET NX EX 60, 50 clients, pipeline 16: %6.0f ops/s\n", go50)
	fmt.Println()
	fmt.Printf("ratio (a) / go-redis 1 client: %.2fx\n", median(a)/go1)
	fmt.Printf("ratio (b) / go-redis 50x16:    %.0f%%\n", 100*median(b)/go50)
	fmt.Printf("ratio (a) / (-c 1 -P 1):   %.2fx   (target >= 3x; rounds %s)\n", median(ratioA), spread(ratioA, "x", 1))
	fmt.Printf("ratio (b) / (-c 50 -P 16): %.0f%%    (target >= 30%%, ceiling 50%%; rounds %s)\n", 100*median(ratioB), spread(ratioB, "%", 100))
	fmt.Printf("  the same, one thread:    %.0f%%    (rounds %s)\n", 100*median(ratioB1), spread(ratioB1, "%", 100))
	fmt.Printf("ratio (c) / (-c 50 -P 16): %.0f%%\n", 100*c/median(ref50))
	fmt.Printf("CPU per record in (b): client %.1f µs, Redis server %.1f µs; server CPU per -c 50 -P 16 request: %.1f µs (medians)\n",
		median(bClientCPU), median(bServerCPU), median(ref50ServerCPU))
	fmt.Printf("  were the server's CPU the only limit, (b) could reach about %.0f%% (the rest of the gap is the client's CPU, on the same cores unless EVENTFN_BENCH_PIN is set)\n",
		100*median(ref50ServerCPU)/median(bServerCPU))
	fmt.Printf("server command time per 10-record batch in (a): %.1f µs (%s), against %.1f µs per -c 1 -P 1 request\n",
		srvTotal, srvParts, 1e6/median(ref1))
	fmt.Printf("where a batch of (a) spends its time, medians of 10,000 batches: %s\n", phaseTimes)
	fmt.Printf("floor: the store alone, 10-record claim+complete, one stream: %.0f records/s = %.2fx (-c 1 -P 1; rounds %s)\n",
		median(floor), median(ratioFloor), spread(ratioFloor, "x", 1))
}

// cpuUse is the CPU time used so far by this process and by the Redis
// server.
type cpuUse struct{ client, server time.Duration }

// cpuNow reads this process's CPU time (getrusage) and the server's (INFO
// cpu: used_cpu_user + used_cpu_sys, main thread and the others).
func cpuNow(c redis.UniversalClient) cpuUse {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		fail("getrusage", err)
	}
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		fail("INFO cpu", err)
	}
	var server float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				fail("INFO cpu", line)
			}
			server += f
		}
	}
	return cpuUse{
		client: time.Duration(ru.Utime.Nano() + ru.Stime.Nano()),
		server: time.Duration(server * float64(time.Second)),
	}
}

func median(x []float64) float64 {
	x = slices.Clone(x)
	slices.Sort(x)
	return x[len(x)/2]
}

// spread formats the lowest and highest of x, scaled.
func spread(x []float64, unit string, scale float64) string {
	prec := 2
	if unit == "%" {
		prec = 0
	}
	return fmt.Sprintf("%.*f%s-%.*f%s", prec, slices.Min(x)*scale, unit, prec, slices.Max(x)*scale, unit)
}

// throughput runs workers goroutines that call step until d has passed
// and returns the units step reports done per second, and the units done.
func throughput(workers int, d time.Duration, step func() int) (float64, int64) {
	var total atomic.Int64
	start := time.Now()
	stop := start.Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(stop) {
				total.Add(int64(step()))
			}
		})
	}
	wg.Wait()
	return float64(total.Load()) / time.Since(start).Seconds(), total.Load()
}

func fail(what string, err any) {
	fmt.Fprintln(os.Stderr, what+":", err)
	os.Exit(1)
}

// scenario runs streams goroutines, each processing batches of size records
// one after another through the middleware for d, and returns records per
// second and the records processed.
func scenario(store *redisstore.Store, name string, streams, size int, d time.Duration) (float64, int64) {
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	h := idempotency.Middleware(store, &idempotency.Options{Scope: fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano())})(noop)
	var seq atomic.Int64
	ctx := context.Background()
	handler.Process(ctx, h, batch(&seq, 10), nil) // warm-up: connections and script cache
	return throughput(streams, d, func() int {
		for _, r := range handler.Process(ctx, h, batch(&seq, size), nil) {
			if r.Err != nil {
				fail("scenario "+name, r.Err)
			}
		}
		return size
	})
}

// storeFloor measures the store's own two calls per 10-record batch
// (ClaimBatch then CompleteBatch), without the middleware or handler.Process:
// the most scenario (a) could reach with this store and client.
func storeFloor(store *redisstore.Store, d time.Duration) float64 {
	ctx := context.Background()
	prefix := fmt.Sprintf("floor-%d-", time.Now().UnixNano())
	n := 0
	rate, _ := throughput(1, d, func() int {
		reqs := make([]idempotency.ClaimRequest, 10)
		for i := range reqs {
			n++
			reqs[i] = idempotency.ClaimRequest{Key: prefix + strconv.Itoa(n), Fingerprint: idempotency.HashKey("fp", strconv.Itoa(n)), Lease: time.Minute}
		}
		claims, errs := store.ClaimBatch(ctx, reqs)
		items := make([]idempotency.Completion, len(reqs))
		for i := range items {
			if errs[i] != nil || !claims[i].Acquired {
				fail("floor: claim", errs[i])
			}
			items[i] = idempotency.Completion{Key: reqs[i].Key, Token: claims[i].Token, TTL: time.Hour}
		}
		for _, err := range store.CompleteBatch(ctx, items) {
			if err != nil {
				fail("floor: complete", err)
			}
		}
		return len(reqs)
	})
	return rate
}

// timedStore records when the middleware's batch calls begin and end.
type timedStore struct {
	*redisstore.Store
	claim, claimed, complete, completed time.Time
}

func (t *timedStore) ClaimBatch(ctx context.Context, reqs []idempotency.ClaimRequest) ([]idempotency.Claim, []error) {
	t.claim = time.Now()
	defer func() { t.claimed = time.Now() }()
	return t.Store.ClaimBatch(ctx, reqs)
}

func (t *timedStore) CompleteBatch(ctx context.Context, items []idempotency.Completion) []error {
	t.complete = time.Now()
	defer func() { t.completed = time.Now() }()
	return t.Store.CompleteBatch(ctx, items)
}

// phases runs n batches of scenario (a) and returns the median time of each
// phase of a batch: from Process to the claim, the claim, between the
// calls (the handlers), the completion, and back from Process.
func phases(store *redisstore.Store, n int) string {
	ts := &timedStore{Store: store}
	noop := handler.HandlerFunc(func(context.Context, *handler.Message) error { return nil })
	h := idempotency.Middleware(ts, &idempotency.Options{Scope: fmt.Sprintf("bench-phases-%d", time.Now().UnixNano())})(noop)
	var seq atomic.Int64
	names := []string{"to the claim", "claim", "between", "completion", "back"}
	times := make([][]float64, len(names))
	for i := range n + 100 {
		msgs := batch(&seq, 10)
		start := time.Now()
		handler.Process(context.Background(), h, msgs, nil)
		end := time.Now()
		if i < 100 {
			continue // warm-up
		}
		marks := []time.Time{start, ts.claim, ts.claimed, ts.complete, ts.completed, end}
		for j := range names {
			times[j] = append(times[j], float64(marks[j+1].Sub(marks[j]).Nanoseconds())/1e3)
		}
	}
	parts := make([]string, len(names))
	for j, name := range names {
		parts[j] = fmt.Sprintf("%s %.1f µs", name, median(times[j]))
	}
	return strings.Join(parts, ", ")
}

// serverTime runs scenario (a) for d with the server's command statistics
// reset, and returns the server's command time per 10-record batch and its
// breakdown by command. It resets the server's statistics (CONFIG
// RESETSTAT).
func serverTime(store *redisstore.Store, d time.Duration) (total float64, breakdown string) {
	ctx := context.Background()
	c := store.Client()
	if err := c.ConfigResetStat(ctx).Err(); err != nil {
		fail("CONFIG RESETSTAT", err)
	}
	scenario(store, "server-time", 1, 10, d)
	info, err := c.Info(ctx, "commandstats").Result()
	if err != nil {
		fail("INFO commandstats", err)
	}
	type stat struct {
		name        string
		calls, usec float64
	}
	var stats []stat
	var batches float64 // every batch ends with one EXEC, or one EVALSHA when it falls back
	for _, line := range strings.Split(info, "\r\n") {
		name, fields, ok := strings.Cut(strings.TrimPrefix(line, "cmdstat_"), ":")
		if !ok || strings.Contains(name, "|") || name == "info" {
			continue
		}
		st := stat{name: name}
		for _, f := range strings.Split(fields, ",") {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseFloat(v, 64)
			switch k {
			case "usec":
				st.usec = n
			case "calls":
				st.calls = n
			}
		}
		if name == "exec" || name == "evalsha" {
			batches += st.calls
		}
		stats = append(stats, st)
	}
	if batches == 0 {
		fail("INFO commandstats", "no EXEC or EVALSHA calls counted")
	}
	slices.SortFunc(stats, func(a, b stat) int { return int(b.usec - a.usec) })
	var parts []string
	var set stat
	for _, st := range stats {
		total += st.usec / batches
		what := strings.ToUpper(st.name)
		switch st.name {
		case "set":
			set = st
		case "exec":
			what += " (with the SETs it runs)"
		}
		parts = append(parts, fmt.Sprintf("%.3g %s %.1f µs", st.calls/batches, what, st.usec/batches))
	}
	// EXEC's time includes the commands it runs, which are counted under
	// their own names as well: the SETs beyond the ten claims per batch.
	if inner := set.calls - 10*batches; inner > 0 && set.calls > 0 {
		total -= set.usec * inner / set.calls / batches
	}
	return total, strings.Join(parts, ", ")
}

func batch(seq *atomic.Int64, n int) []*handler.Message {
	msgs := make([]*handler.Message, n)
	for i := range msgs {
		msgs[i] = &handler.Message{ID: strconv.FormatInt(seq.Add(1), 10), Body: []byte(`{"order":"o","amount":1}`)}
	}
	return msgs
}

// goSetNX measures plain SET NX EX 60 with go-redis: clients goroutines,
// each sending pipelines of depth commands, for d.
func goSetNX(c redis.UniversalClient, clients, depth int, d time.Duration) float64 {
	ctx := context.Background()
	var seq atomic.Int64
	rate, _ := throughput(clients, d, func() int {
		if depth == 1 {
			c.SetArgs(ctx, "goref:"+strconv.FormatInt(seq.Add(1), 10), "val", redis.SetArgs{Mode: "NX", TTL: time.Minute})
			return 1
		}
		p := c.Pipeline()
		for range depth {
			p.SetArgs(ctx, "goref:"+strconv.FormatInt(seq.Add(1), 10), "val", redis.SetArgs{Mode: "NX", TTL: time.Minute})
		}
		_, _ = p.Exec(ctx)
		return depth
	})
	return rate
}

// redisBenchmark runs redis-benchmark's SET key val NX EX 60 on random keys
// and returns requests per second.
func redisBenchmark(port, clients, pipeline, n int) float64 {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(port), "-c", strconv.Itoa(clients), "-P", strconv.Itoa(pipeline),
		"-n", strconv.Itoa(n), "-r", "100000000", "--csv", "SET", "bench:__rand_int__", "val", "NX", "EX", "60"}
	out, err := exec.Command("redis-benchmark", args...).Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "redis-benchmark:", err)
		os.Exit(1)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) >= 2 && strings.HasPrefix(f[0], `"SET`) {
			v, err := strconv.ParseFloat(strings.Trim(f[1], `"`), 64)
			if err == nil {
				return v
			}
		}
	}
	fmt.Fprintf(os.Stderr, "redis-benchmark: cannot parse output:\n%s", out)
	os.Exit(1)
	return 0
}
