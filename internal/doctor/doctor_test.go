package doctor_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eventfn/eventfn/internal/doctor"
	"github.com/eventfn/eventfn/templates"
)

type want struct {
	rule string
	file string // base name
	line int
}

// TestEachRuleFailsItsFixture checks every fixture in testdata/ against
// the exact findings it must produce: each is a passing generated project
// with one setting broken.
func TestEachRuleFailsItsFixture(t *testing.T) {
	cases := map[string][]want{
		"aws/sqs-report-batch-item-failures": {{"sqs-report-batch-item-failures", "template.yaml", 161}},
		"aws/sqs-redrive-policy":             {{"sqs-redrive-policy", "template.yaml", 55}},
		"aws/sqs-visibility-timeout":         {{"sqs-visibility-timeout", "template.yaml", 62}},
		"aws/dlq-retention":                  {{"dlq-retention", "template.yaml", 47}},
		"aws/dlq-alarm":                      {{"dlq-alarm", "template.yaml", 47}},
		"aws/dlq-deletion-policy":            {{"dlq-deletion-policy", "template.yaml", 47}},
		"aws/fifo-batch-window": {
			{"sqs-report-batch-item-failures", "template.yaml", 163},
			{"fifo-batch-window", "template.yaml", 163},
		},
		"aws/idempotency-ttl": {{"idempotency-ttl", "template.yaml", 160}},
		"aws/json-event-source-mapping": {
			{"sqs-visibility-timeout", "template.json", 16},
			{"sqs-report-batch-item-failures", "template.json", 25},
		},
		"gcp/pubsub-dead-letter-policy": {
			{"pubsub-dead-letter-policy", "main.tf", 42},
			{"pubsub-dead-letter-policy", "main.tf", 130},
		},
		"gcp/pubsub-dead-letter-iam":          {{"pubsub-dead-letter-iam", "main.tf", 147}},
		"gcp/dead-letter-topic-subscription":  {{"dead-letter-topic-subscription", "main.tf", 36}},
		"gcp/dlq-alarm":                       {{"dlq-alarm", "main.tf", 42}},
		"gcp/function-retry":                  {{"function-retry", "main.tf", 12}},
		"gcp/idempotency-ttl":                 {{"idempotency-ttl", "main.tf", 82}},
		"azure/servicebus-max-delivery-count": {{"servicebus-max-delivery-count", "main.bicep", 35}},
		"azure/servicebus-lock-duration":      {{"servicebus-lock-duration", "host.json", 3}},
		"azure/retry-layers":                  {{"retry-layers", "host.json", 3}},
		"azure/dlq-alarm":                     {{"dlq-alarm", "main.bicep", 35}},
		"azure/idempotency-ttl":               {{"idempotency-ttl", "main.bicep", 35}},
	}
	covered := map[string]bool{}
	for dir, wants := range cases {
		t.Run(dir, func(t *testing.T) {
			r, err := doctor.Check(filepath.Join("testdata", dir))
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, f := range r.Findings {
				got = append(got, want{f.Rule, filepath.Base(f.File), f.Line})
				if f.Message == "" || !strings.HasPrefix(f.File, "testdata") {
					t.Errorf("finding without message or file: %+v", f)
				}
			}
			if !slices.Equal(got, wants) {
				t.Errorf("findings %v, want %v\n%v", got, wants, r.Findings)
			}
		})
		for _, w := range wants {
			covered[w.rule] = true
		}
	}
	for _, r := range doctor.Rules {
		if !covered[r.ID] {
			t.Errorf("rule %s has no failing fixture", r.ID)
		}
	}
}

// TestGeneratedProjectsHaveNoFinding renders every cloud x store and
// checks the result: the templates must pass their own doctor.
func TestGeneratedProjectsHaveNoFinding(t *testing.T) {
	for _, cloud := range templates.Clouds {
		for _, store := range templates.Stores {
			if store == "dynamodb" && cloud != "aws" {
				continue
			}
			t.Run(cloud+"-"+store, func(t *testing.T) {
				dir := t.TempDir()
				files, err := templates.Render(templates.Data{Name: "order-events", Cloud: cloud, Store: store})
				if err != nil {
					t.Fatal(err)
				}
				for _, f := range files {
					p := filepath.Join(dir, filepath.FromSlash(f.Path))
					if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(p, f.Data, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				r, err := doctor.Check(dir)
				if err != nil {
					t.Fatal(err)
				}
				if len(r.Files) == 0 {
					t.Fatal("no infrastructure file checked")
				}
				for _, f := range r.Findings {
					t.Errorf("%s", f)
				}
				for _, n := range r.Notes {
					t.Errorf("note: %s", n)
				}
			})
		}
	}
}

func TestMalformedFilesAreErrorsWithFileAndLine(t *testing.T) {
	for file, line := range map[string]int{
		"testdata/malformed/bad-indent.yaml":        1,
		"testdata/malformed/truncated.json":         2,
		"testdata/malformed/bad.tf":                 2,
		"testdata/malformed/host/host.json":         3,
		"testdata/malformed/function/function.json": 1,
		"testdata/malformed/resources-list.yaml":    2,
	} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := doctor.Check(file)
			var pe *doctor.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Check = %v, want a *ParseError", err)
			}
			if pe.File != file || pe.Line != line {
				t.Errorf("ParseError at %s:%d, want %s:%d (%v)", pe.File, pe.Line, file, line, err)
			}
			if !strings.HasPrefix(err.Error(), "doctor: "+file+":") {
				t.Errorf("error %q does not start with the file and line", err)
			}
		})
	}
}

func TestUnreadableFilesAreErrors(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(filepath.Join(dir, "missing"), filepath.Join(dir, "template.yaml")); err != nil {
		t.Fatal(err)
	}
	_, err := doctor.Check(dir)
	var pe *doctor.ParseError
	if !errors.As(err, &pe) || pe.File != filepath.Join(dir, "template.yaml") {
		t.Fatalf("Check(dangling symlink) = %v, want a *ParseError naming it", err)
	}
	if _, err := doctor.Check(filepath.Join(dir, "nope")); !errors.As(err, &pe) {
		t.Fatalf("Check(missing path) = %v, want a *ParseError", err)
	}
	if _, err := doctor.Check(t.TempDir()); !errors.Is(err, doctor.ErrNothingToCheck) {
		t.Fatalf("Check(empty dir) = %v, want ErrNothingToCheck", err)
	}
	notTemplate := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(notTemplate, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := doctor.Check(notTemplate); !errors.As(err, &pe) {
		t.Fatalf("Check(a YAML file that is no template) = %v, want a *ParseError", err)
	}
}

func TestAParameterDefaultReferringToItselfIsNotFollowed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "template.yaml")
	tmpl := `Parameters:
  T:
    Type: Number
    Default: !Ref T
Resources:
  Q:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: !Ref T
  F:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: !Ref T
      Events:
        E:
          Type: SQS
          Properties:
            Queue: !GetAtt Q.Arn
            FunctionResponseTypes: [ReportBatchItemFailures]
`
	if err := os.WriteFile(p, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := doctor.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range r.Findings {
		rules = append(rules, f.Rule)
	}
	// The queue has no redrive policy; its unknown timeout is not judged.
	if !slices.Equal(rules, []string{"sqs-redrive-policy", "idempotency-ttl"}) {
		t.Errorf("rules %v\n%v", rules, r.Findings)
	}
}

func TestYAMLAliasesAreFollowed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "template.yaml")
	tmpl := `Resources:
  DLQ:
    Type: AWS::SQS::Queue
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      MessageRetentionPeriod: 1209600
  Q:
    Type: AWS::SQS::Queue
    Properties: &queue
      VisibilityTimeout: 10
      MessageRetentionPeriod: 3600
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DLQ.Arn
        maxReceiveCount: 5
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Dimensions:
        - Name: QueueName
          Value: !GetAtt DLQ.QueueName
  F:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 30
      Events:
        E:
          Type: SQS
          Properties:
            Queue: !GetAtt Q2.Arn # its properties are an alias of Q's
            FunctionResponseTypes: [ReportBatchItemFailures]
  Q2:
    Type: AWS::SQS::Queue
    Properties: *queue
`
	if err := os.WriteFile(p, []byte(tmpl), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := doctor.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Findings) != 1 || r.Findings[0].Rule != "sqs-visibility-timeout" || r.Findings[0].Line != 11 {
		t.Errorf("findings %v, want one sqs-visibility-timeout at line 11", r.Findings)
	}
}
