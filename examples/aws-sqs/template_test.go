package main_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"
)

// TestTemplateKeepsTheSafetySettings checks the SAM template for the
// settings whose absence loses or duplicates messages.
func TestTemplateKeepsTheSafetySettings(t *testing.T) {
	b, err := os.ReadFile("template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tmpl := string(b)
	for _, want := range []struct{ what, re string }{
		{"partial batch responses", `FunctionResponseTypes: \[ReportBatchItemFailures\]`},
		{"the adapter told so", `EVENTFN_SQS_REPORT_BATCH_ITEM_FAILURES: "true"`},
		{"a redrive policy to the DLQ", `deadLetterTargetArn: !GetAtt OrdersDeadLetterQueue.Arn`},
		{"maxReceiveCount", `maxReceiveCount: !Ref MaxReceiveCount`},
		{"the custom runtime", `Runtime: provided.al2023`},
		{"arm64", `Architectures: \[arm64\]`},
		{"TTL on the store's expiry attribute", `(?s)TimeToLiveSpecification:\s+AttributeName: expiry\s+Enabled: true`},
		{"an alarm on dead letters", `MetricName: ApproximateNumberOfMessagesVisible`},
	} {
		if !regexp.MustCompile(want.re).MatchString(tmpl) {
			t.Errorf("template.yaml lacks %s (%s)", want.what, want.re)
		}
	}
	timeout := regexp.MustCompile(`(?m)^      Timeout: (\d+)`).FindStringSubmatch(tmpl)
	visibility := regexp.MustCompile(`(?m)^      VisibilityTimeout: (\d+)`).FindStringSubmatch(tmpl)
	if timeout == nil || visibility == nil {
		t.Fatal("template.yaml lacks the function timeout or the queue's visibility timeout")
	}
	ft, _ := strconv.Atoi(timeout[1])
	vt, _ := strconv.Atoi(visibility[1])
	if vt < 6*ft {
		t.Errorf("VisibilityTimeout %d < 6 x function Timeout %d", vt, ft)
	}
	if regexp.MustCompile(`Resource: "\*"|Resource: '\*'|Resource: \*`).MatchString(tmpl) {
		t.Error("template.yaml grants an action on every resource")
	}
}
