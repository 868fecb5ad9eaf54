package dlq_test

import (
	"os/exec"
	"strings"
	"testing"
)

// A program redriving one broker links only that broker's SDK: the core
// imports the standard library, handler and x/time, each driver no other
// cloud's SDK.
func TestDriversStayInTheirLane(t *testing.T) {
	const mod = "github.com/eventfn/eventfn"
	aws, google, azure, amqp := "github.com/aws/", "cloud.google.com/", "github.com/Azure/", "github.com/rabbitmq/"
	cases := map[string][]string{
		"dlq":           {aws, google, "google.golang.org/", azure, amqp},
		"dlq/sqsdlq":    {google, "google.golang.org/", azure, amqp},
		"dlq/pubsubdlq": {aws, azure, amqp},
		"dlq/sbdlq":     {aws, google, "google.golang.org/", amqp},
		"dlq/rabbitdlq": {aws, google, "google.golang.org/", azure},
	}
	for pkg, banned := range cases {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", mod+"/"+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, d := range strings.Fields(string(out)) {
			for _, b := range banned {
				if strings.HasPrefix(d, b) {
					t.Errorf("%s links %s", pkg, d)
				}
			}
			if pkg == "dlq" && d != mod+"/dlq" && d != mod+"/handler" && d != "golang.org/x/time/rate" {
				t.Errorf("the dlq core depends on %s", d)
			}
		}
	}
}
