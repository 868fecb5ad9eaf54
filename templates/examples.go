package templates

import (
	"fmt"
	"sort"
)

// Example is one of the repository's examples whose infrastructure files
// are rendered from these templates.
type Example struct {
	// Data is what the example is rendered from.
	Data Data
	// Files maps each rendered file the example keeps to its path in the
	// example's directory.
	Files map[string]string
}

// Examples are the examples/ directories whose infrastructure files these
// templates render; a test in this package checks that they match.
var Examples = map[string]Example{
	"aws-sqs": {
		Data: Data{Name: "orders", Cloud: "aws", Store: "dynamodb",
			Env: []string{"EVENTFN_BACKOFF=10s", "ORDERS_LEDGER_FILE=/tmp/orders-ledger.jsonl"}},
		Files: map[string]string{"template.yaml": "template.yaml"},
	},
	"gcp-pubsub": {
		Data: Data{Name: "orders", Cloud: "gcp", Store: "redis", Entry: "OrderPlacedPush",
			Env: []string{"ORDERS_IDEMPOTENCY_SCOPE=orders-push", "ORDERS_TIMEOUT=55s"}},
		Files: map[string]string{"deploy.sh": "deploy.sh", "terraform/main.tf": "terraform/main.tf", "terraform/variables.tf": "terraform/variables.tf"},
	},
	"azure-servicebus": {
		Data: Data{Name: "orders", Cloud: "azure", Store: "redis",
			Functions: []AzureFunction{
				{Name: "ProcessOrder", Binding: "order", QueueSetting: "ORDERS_QUEUE", Queue: "orders"},
				{Name: "ProcessOrderBatch", Binding: "orders", QueueSetting: "ORDERS_BULK_QUEUE", Queue: "orders-bulk", Many: true},
			},
			RejectedSetting: "ORDERS_REJECTED_QUEUE", RejectedQueue: "orders-rejected",
			Env: []string{"ORDERS_LEDGER_FILE=/tmp/orders-ledger.jsonl"}},
		Files: map[string]string{
			"host.json":                       "host.json",
			"ProcessOrder/function.json":      "ProcessOrder/function.json",
			"ProcessOrderBatch/function.json": "ProcessOrderBatch/function.json",
			"local.settings.json":             "local.settings.json.template",
			"main.bicep":                      "main.bicep",
		},
	},
}

// RenderExample renders the infrastructure files of the example name, with
// their paths in the example's directory.
func RenderExample(name string) ([]File, error) {
	ex, ok := Examples[name]
	if !ok {
		return nil, fmt.Errorf("templates: no example %q", name)
	}
	files, err := Render(ex.Data)
	if err != nil {
		return nil, err
	}
	var out []File
	for _, f := range files {
		if p, ok := ex.Files[f.Path]; ok {
			f.Path = p
			out = append(out, f)
		}
	}
	if len(out) != len(ex.Files) {
		return nil, fmt.Errorf("templates: example %s: rendered %d of its %d files", name, len(out), len(ex.Files))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
