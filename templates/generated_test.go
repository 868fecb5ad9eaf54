package templates_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventfn/eventfn/idempotency/dynamostore"
	"github.com/eventfn/eventfn/internal/doctor"
	"github.com/eventfn/eventfn/internal/testenv"
)

// TestGeneratedProjectsBuildAndPassTheirTests generates every cloud x
// store with a replace to this checkout, then runs go mod tidy, go vet,
// go build and go test inside it, two projects at a time (the module
// cache is shared). The Lambda projects are also built as a bootstrap
// and invoked once with events/sqs.json under the Runtime Interface
// Emulator, against the real store they were generated for.
func TestGeneratedProjectsBuildAndPassTheirTests(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	slots := make(chan struct{}, 2)
	for _, d := range projects() {
		t.Run(d.Cloud+"-"+d.Store, func(t *testing.T) {
			t.Parallel()
			slots <- struct{}{}
			defer func() { <-slots }()
			d.Replace = root
			dir := write(t, d)
			for _, args := range [][]string{
				{"mod", "tidy"},
				{"vet", "./..."},
				{"build", "./..."},
				{"test", "-count=1", "./..."},
			} {
				goCmd(t, dir, args...)
			}
			r, err := doctor.Check(dir)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range r.Findings {
				t.Errorf("doctor: %s", f)
			}
			if d.Cloud == "aws" {
				invokeUnderRIE(t, dir, d.Store)
			}
		})
	}
}

func goCmd(t *testing.T, dir string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %v in %s: %v\n%s", args, dir, err, out)
	}
}

// invokeUnderRIE runs the generated Lambda under the emulator and checks
// that of events/sqs.json's three records (a valid event, an invalid one,
// the valid one again under another message ID) only the invalid one is
// reported failed.
func invokeUnderRIE(t *testing.T, dir, store string) {
	t.Helper()
	scope := fmt.Sprintf("order-events-test-%d", time.Now().UnixNano())
	env := []string{"AWS_LAMBDA_FUNCTION_NAME=" + scope, "AWS_LAMBDA_FUNCTION_TIMEOUT=30"}
	switch store {
	case "redis":
		env = append(env, "EVENTFN_REDIS_URL="+testenv.Redis(t))
	case "dynamodb":
		endpoint := testenv.DynamoDB(t)
		table := "idem-" + scope
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := dynamostore.CreateTable(ctx, dynamodb.NewFromConfig(cfg), table, nil); err != nil {
			t.Fatal(err)
		}
		env = append(env, "EVENTFN_DYNAMODB_TABLE="+table, "AWS_ENDPOINT_URL_DYNAMODB="+endpoint)
	}
	testenv.RIE(t)
	fn := testenv.StartFunction(t, testenv.BuildLambda(t, dir), env...)
	payload, err := os.ReadFile(filepath.Join(dir, "events", "sqs.json"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	body, err := fn.Invoke(ctx, payload)
	if err != nil {
		t.Fatalf("invoke: %v\n%s", err, fn.Log())
	}
	var resp struct {
		BatchItemFailures []struct {
			ItemIdentifier string `json:"itemIdentifier"`
		} `json:"batchItemFailures"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %s: %v", body, err)
	}
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if want := []string{"5f2c9f43-5d0e-4a8e-9a4f-6d1e2b3c4d02"}; !slices.Equal(failed, want) {
		t.Fatalf("batchItemFailures %v, want %v\n%s", failed, want, fn.Log())
	}
}
