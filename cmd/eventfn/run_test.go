package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	gpubsub "cloud.google.com/go/pubsub/v2"
	"cloud.google.com/go/pubsub/v2/apiv1/pubsubpb"

	"github.com/eventfn/eventfn/internal/testenv"
)

func TestRunConsumesAPubSubSubscriptionUntilInterrupted(t *testing.T) {
	testenv.PubSub(t)
	ctx := context.Background()
	const project = "eventfn-run"
	suffix := fmt.Sprint(time.Now().UnixNano())
	topic := "projects/" + project + "/topics/run-" + suffix
	sub := "projects/" + project + "/subscriptions/run-" + suffix
	client, err := gpubsub.NewClient(ctx, project)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if _, err := client.TopicAdminClient.CreateTopic(ctx, &pubsubpb.Topic{Name: topic}); err != nil {
		t.Fatal(err)
	}
	defer client.TopicAdminClient.DeleteTopic(ctx, &pubsubpb.DeleteTopicRequest{Topic: topic})
	if _, err := client.SubscriptionAdminClient.CreateSubscription(ctx, &pubsubpb.Subscription{Name: sub, Topic: topic, AckDeadlineSeconds: 10}); err != nil {
		t.Fatal(err)
	}
	defer client.SubscriptionAdminClient.DeleteSubscription(ctx, &pubsubpb.DeleteSubscriptionRequest{Subscription: sub})
	if code, out, errs := runCLI(t, "send", "gcppubsub://"+topic, "ok-1", "ok-2", "fail-once", "poison"); code != 0 {
		t.Fatalf("send: %d %s %s", code, out, errs)
	}

	out := filepath.Join(t.TempDir(), "applied.txt")
	rctx, interrupt := context.WithCancel(ctx)
	defer interrupt()
	type result struct {
		code      int
		out, errs string
	}
	done := make(chan result, 1)
	go func() {
		code, o, e := runCLIContext(rctx, "run", "--json", "--sub", "gcppubsub://"+sub, "--dead-letter", "mem://dead",
			"--env", "EVENTFN_TEST_OUT="+out, "./testdata/consumer")
		done <- result{code, o, e}
	}()
	deadline := time.Now().Add(3 * time.Minute) // includes building the consumer
	for {
		b, _ := os.ReadFile(out)
		if strings.Count(string(b), "\n") >= 3 {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("run ended early: exit %d\n%s\n%s", r.code, r.out, r.errs)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer applied %q in time", b)
		}
	}
	time.Sleep(500 * time.Millisecond) // let the poison message settle
	interrupt()                        // as Ctrl-C
	var r result
	select {
	case r = <-done:
	case <-time.After(time.Minute):
		t.Fatal("eventfn run did not stop after the interrupt")
	}
	if r.code != 0 {
		t.Fatalf("exit %d\n%s\n%s", r.code, r.out, r.errs)
	}
	var res runResult
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("run --json: %v\n%s", err, r.out)
	}
	if !res.Counted || res.Acked != 3 || res.Retried != 1 || res.DeadLettered != 1 {
		t.Errorf("counts %+v, want 3 acked, 1 retried, 1 dead-lettered\nstderr:\n%s", res, r.errs)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Fields(string(b))
	sort.Strings(lines)
	if strings.Join(lines, ",") != "fail-once,ok-1,ok-2" {
		t.Errorf("applied %v", lines)
	}
}

func TestRunBadInput(t *testing.T) {
	t.Setenv("EVENTFN_SUBSCRIPTION", "")
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "."}, exitUsage, "no subscription"},
		{[]string{"run", "--sub", "mem://x", "a", "b"}, exitUsage, "one package"},
		{[]string{"run", "--sub", "mem://x", "--max-attempts", "3", "."}, exitUsage, "needs --dead-letter"},
		{[]string{"run", "--sub", "mem://x", t.TempDir()}, exitFailure, "building"},
	} {
		code, _, errs := runCLIStdin(t, "", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d and %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
}
