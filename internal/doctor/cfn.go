package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// cfnTemplate is a parsed SAM or CloudFormation template.
type cfnTemplate struct {
	file      string
	params    map[string]*yaml.Node // parameter name -> its mapping
	resources map[string]*cfnResource
	order     []string
	globalFn  *yaml.Node // Globals.Function
}

type cfnResource struct {
	id    string
	typ   string
	node  *yaml.Node // the resource's mapping
	props *yaml.Node // Properties, or nil
	line  int
}

// parseCFN parses a YAML or JSON template. It returns nil, nil for a
// document that is not a template (no Resources mapping).
func parseCFN(file string, b []byte) (t *cfnTemplate, err error) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 panics on some inputs
			t, err = nil, &ParseError{File: file, Err: fmt.Errorf("malformed YAML: %v", r)}
		}
	}()
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil // empty
		}
		return nil, &ParseError{File: file, Line: yamlErrLine(err), Err: err}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, nil
	}
	res := get(root, "Resources")
	if res == nil {
		return nil, nil
	}
	if res.Kind != yaml.MappingNode {
		return nil, &ParseError{File: file, Line: res.Line, Err: errors.New("Resources is not a mapping")}
	}
	t = &cfnTemplate{file: file, params: map[string]*yaml.Node{}, resources: map[string]*cfnResource{}}
	if ps := get(root, "Parameters"); ps != nil && ps.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(ps.Content); i += 2 {
			t.params[ps.Content[i].Value] = ps.Content[i+1]
		}
	}
	if g := get(root, "Globals"); g != nil {
		t.globalFn = get(g, "Function")
	}
	for i := 0; i+1 < len(res.Content); i += 2 {
		id, n := res.Content[i].Value, res.Content[i+1]
		if n.Kind != yaml.MappingNode {
			return nil, &ParseError{File: file, Line: n.Line, Err: fmt.Errorf("resource %s is not a mapping", id)}
		}
		r := &cfnResource{id: id, node: n, line: res.Content[i].Line, props: get(n, "Properties")}
		if ty := get(n, "Type"); ty != nil {
			r.typ = ty.Value
		}
		t.resources[id] = r
		t.order = append(t.order, id)
	}
	return t, nil
}

// yamlErrLine extracts "line N" from a yaml.v3 error.
func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		j := i + 5
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		n, _ := strconv.Atoi(s[i+5 : j])
		return n
	}
	return 0
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	n = deref(n)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return deref(n.Content[i+1])
		}
	}
	return nil
}

// deref follows a YAML alias (*name) to its anchor's node, a bounded
// number of times.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 8; i++ {
		n = n.Alias
	}
	return n
}

// ref returns the logical ID an intrinsic (Ref, GetAtt, Sub with one
// reference) points at, or "".
func ref(n *yaml.Node) string {
	n = deref(n)
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!Ref":
			return n.Value
		case "!GetAtt":
			id, _, _ := strings.Cut(n.Value, ".")
			return id
		case "!Sub":
			return subRef(n.Value)
		}
	case yaml.SequenceNode:
		if n.Tag == "!GetAtt" && len(n.Content) > 0 {
			return n.Content[0].Value
		}
	case yaml.MappingNode:
		if len(n.Content) != 2 {
			return ""
		}
		k, v := n.Content[0].Value, n.Content[1]
		switch k {
		case "Ref":
			return v.Value
		case "Fn::GetAtt":
			if v.Kind == yaml.SequenceNode && len(v.Content) > 0 {
				return v.Content[0].Value
			}
			id, _, _ := strings.Cut(v.Value, ".")
			return id
		case "Fn::Sub":
			return subRef(v.Value)
		}
	}
	return ""
}

func subRef(s string) string {
	i := strings.Index(s, "${")
	if i < 0 {
		return ""
	}
	j := strings.IndexAny(s[i:], ".}")
	if j < 0 {
		return ""
	}
	return s[i+2 : i+j]
}

// number evaluates n as an integer: a literal, or a Ref to a parameter
// with a numeric Default.
func (t *cfnTemplate) number(n *yaml.Node) (int, bool) {
	if n == nil {
		return 0, false
	}
	if id := ref(n); id != "" && (n.Tag == "!Ref" || n.Kind == yaml.MappingNode) {
		p, ok := t.params[id]
		if !ok {
			return 0, false
		}
		n = get(p, "Default") // a literal: a default cannot refer further
		if n == nil || ref(n) != "" {
			return 0, false
		}
	}
	if n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && n.Tag != "!!int" && n.Tag != "!!str" {
		return 0, false
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	return v, err == nil
}

// str evaluates n as a string: a literal, or a Ref to a parameter with a
// Default.
func (t *cfnTemplate) str(n *yaml.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	if id := ref(n); id != "" && (n.Tag == "!Ref" || n.Kind == yaml.MappingNode) {
		p, ok := t.params[id]
		if !ok {
			return "", false
		}
		n = get(p, "Default") // a literal: a default cannot refer further
		if n == nil || ref(n) != "" {
			return "", false
		}
	}
	if n.Kind != yaml.ScalarNode || strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return "", false
	}
	return n.Value, true
}

func (t *cfnTemplate) truthy(n *yaml.Node) bool {
	s, ok := t.str(n)
	return ok && strings.EqualFold(s, "true")
}

// sqsSource is an SQS event source of a function.
type sqsSource struct {
	fn    *cfnResource
	queue *cfnResource
	node  *yaml.Node // the event's or mapping's properties
	line  int
}

func (t *cfnTemplate) sqsSources() []sqsSource {
	var out []sqsSource
	for _, id := range t.order {
		r := t.resources[id]
		switch r.typ {
		case "AWS::Serverless::Function":
			evs := get(r.props, "Events")
			if evs == nil || evs.Kind != yaml.MappingNode {
				continue
			}
			for i := 0; i+1 < len(evs.Content); i += 2 {
				ev := evs.Content[i+1]
				if ty := get(ev, "Type"); ty == nil || ty.Value != "SQS" {
					continue
				}
				props := get(ev, "Properties")
				out = append(out, sqsSource{fn: r, queue: t.resources[ref(get(props, "Queue"))], node: props, line: evs.Content[i].Line})
			}
		case "AWS::Lambda::EventSourceMapping":
			q := t.resources[ref(get(r.props, "EventSourceArn"))]
			if q == nil || q.typ != "AWS::SQS::Queue" {
				continue
			}
			out = append(out, sqsSource{fn: t.resources[ref(get(r.props, "FunctionName"))], queue: q, node: r.props, line: r.line})
		}
	}
	return out
}

// fnProp returns a function's property, or the Globals.Function one.
func (t *cfnTemplate) fnProp(fn *cfnResource, key string) *yaml.Node {
	if fn == nil {
		return nil
	}
	if v := get(fn.props, key); v != nil {
		return v
	}
	if fn.typ == "AWS::Serverless::Function" {
		return get(t.globalFn, key)
	}
	return nil
}

func (t *cfnTemplate) fnTimeout(fn *cfnResource) int {
	if v, ok := t.number(t.fnProp(fn, "Timeout")); ok {
		return v
	}
	return 3 // Lambda's default
}

func (t *cfnTemplate) fnEnv(fn *cfnResource, name string) *yaml.Node {
	if fn == nil {
		return nil
	}
	if v := get(get(get(fn.props, "Environment"), "Variables"), name); v != nil {
		return v
	}
	if fn.typ == "AWS::Serverless::Function" {
		return get(get(get(t.globalFn, "Environment"), "Variables"), name)
	}
	return nil
}

// Defaults of SQS queues.
const (
	sqsDefaultVisibility = 30
	sqsDefaultRetention  = 345600 // 4 days
)

func (p *project) checkCFN() []Finding {
	var out []Finding
	for _, t := range p.cfn {
		out = append(out, t.check()...)
	}
	return out
}

func (t *cfnTemplate) check() []Finding {
	var out []Finding
	f := t.file
	// Dead-letter queues: targets of a redrive policy.
	dlqs := map[string]*cfnResource{}
	sources := map[string]*cfnResource{} // DLQ id -> a source queue
	for _, id := range t.order {
		r := t.resources[id]
		if r.typ != "AWS::SQS::Queue" {
			continue
		}
		if rp := get(r.props, "RedrivePolicy"); rp != nil {
			if d := t.resources[ref(get(rp, "deadLetterTargetArn"))]; d != nil {
				dlqs[d.id] = d
				sources[d.id] = r
			}
		}
	}
	for _, s := range t.sqsSources() {
		fnName := "the function"
		if s.fn != nil {
			fnName = s.fn.id
		}
		rbif := false
		if frt := get(s.node, "FunctionResponseTypes"); frt != nil {
			for _, v := range frt.Content {
				if v.Value == "ReportBatchItemFailures" {
					rbif = true
				}
			}
		}
		if !rbif {
			out = append(out, finding("sqs-report-batch-item-failures", f, s.line,
				"SQS event source of %s has no FunctionResponseTypes [ReportBatchItemFailures]: a partial failure fails or deletes the whole batch", fnName))
		}
		if s.queue == nil {
			continue
		}
		q := s.queue
		if get(q.props, "RedrivePolicy") == nil {
			out = append(out, finding("sqs-redrive-policy", f, q.line,
				"queue %s has no RedrivePolicy: a message that always fails is retried until its retention ends, then lost", q.id))
		}
		vis, ok := t.number(get(q.props, "VisibilityTimeout"))
		if !ok && get(q.props, "VisibilityTimeout") == nil {
			vis, ok = sqsDefaultVisibility, true
		}
		if to := t.fnTimeout(s.fn); ok && vis < 6*to {
			line := q.line
			if v := get(q.props, "VisibilityTimeout"); v != nil {
				line = v.Line
			}
			out = append(out, finding("sqs-visibility-timeout", f, line,
				"queue %s: VisibilityTimeout %d s is under 6x the timeout of %s (%d s): a batch still being handled is delivered again", q.id, vis, fnName, to))
		}
		if t.truthy(get(q.props, "FifoQueue")) && !rbif {
			if w, ok := t.number(get(s.node, "MaximumBatchingWindowInSeconds")); ok && w > 0 {
				out = append(out, finding("fifo-batch-window", f, s.line,
					"FIFO queue %s is read with a %d s batching window and no partial batch responses: one failure fails every message group in the batch", q.id, w))
			}
		}
		// The idempotency record must outlive the message's retention.
		ret, ok := t.number(get(q.props, "MessageRetentionPeriod"))
		if !ok && get(q.props, "MessageRetentionPeriod") == nil {
			ret, ok = sqsDefaultRetention, true
		}
		ttl, ttlLine, ttlOK := defaultTTL, s.line, true
		if v := t.fnEnv(s.fn, envTTL); v != nil {
			ttlLine = v.Line
			var str string
			if str, ttlOK = t.str(v); ttlOK {
				d, err := time.ParseDuration(str)
				if err != nil {
					out = append(out, finding("idempotency-ttl", f, v.Line, "%s=%q is not a Go duration", envTTL, str))
					ttlOK = false
				}
				ttl = d
			}
		}
		if ok && ttlOK && ttl < time.Duration(ret)*time.Second {
			out = append(out, finding("idempotency-ttl", f, ttlLine,
				"idempotency TTL %v (%s) is shorter than queue %s's retention %v: a copy delivered after the record expired runs again",
				ttl, envTTLSource(t.fnEnv(s.fn, envTTL) != nil), q.id, time.Duration(ret)*time.Second))
		}
	}
	for _, id := range t.order {
		d, ok := dlqs[id]
		if !ok {
			continue
		}
		if dp, urp := get(d.node, "DeletionPolicy"), get(d.node, "UpdateReplacePolicy"); dp == nil || dp.Value != "Retain" || urp == nil || urp.Value != "Retain" {
			out = append(out, finding("dlq-deletion-policy", f, d.line,
				"dead-letter queue %s lacks DeletionPolicy: Retain and UpdateReplacePolicy: Retain: deleting or replacing the stack destroys its dead letters", d.id))
		}
		src := sources[id]
		dret, ok1 := t.number(get(d.props, "MessageRetentionPeriod"))
		if !ok1 && get(d.props, "MessageRetentionPeriod") == nil {
			dret, ok1 = sqsDefaultRetention, true
		}
		sret, ok2 := t.number(get(src.props, "MessageRetentionPeriod"))
		if !ok2 && get(src.props, "MessageRetentionPeriod") == nil {
			sret, ok2 = sqsDefaultRetention, true
		}
		if ok1 && ok2 && dret <= sret {
			out = append(out, finding("dlq-retention", f, d.line,
				"dead-letter queue %s keeps messages %d s, no longer than its source %s (%d s); SQS keeps a message's original age, so dead letters can expire on arrival: set MessageRetentionPeriod 1209600", d.id, dret, src.id, sret))
		}
		if !t.alarmed(d.id) {
			out = append(out, finding("dlq-alarm", f, d.line,
				"dead-letter queue %s has no CloudWatch alarm on it: dead letters pile up unseen", d.id))
		}
	}
	return out
}

// alarmed reports whether a CloudWatch alarm has a dimension referring to
// the queue id.
func (t *cfnTemplate) alarmed(id string) bool {
	for _, aid := range t.order {
		a := t.resources[aid]
		if a.typ != "AWS::CloudWatch::Alarm" {
			continue
		}
		dims := get(a.props, "Dimensions")
		if dims == nil {
			// Metric math alarms list their metrics under Metrics.
			for _, m := range seq(get(a.props, "Metrics")) {
				dims = get(get(get(m, "MetricStat"), "Metric"), "Dimensions")
				for _, d := range seq(dims) {
					if ref(get(d, "Value")) == id {
						return true
					}
				}
			}
			continue
		}
		for _, d := range seq(dims) {
			if ref(get(d, "Value")) == id {
				return true
			}
		}
	}
	return false
}

func seq(n *yaml.Node) []*yaml.Node {
	n = deref(n)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	return n.Content
}

// The idempotency TTL a function is configured with.
const (
	envTTL     = "EVENTFN_IDEMPOTENCY_TTL"
	defaultTTL = 24 * time.Hour // idempotency.DefaultTTL
)

func envTTLSource(set bool) string {
	if set {
		return envTTL
	}
	return envTTL + " unset: the default"
}
