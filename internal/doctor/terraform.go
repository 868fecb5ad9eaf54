package doctor

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// tfFile is a parsed Terraform file.
type tfFile struct {
	file      string
	src       []byte
	resources []*tfResource
}

// tfResource is one resource block.
type tfResource struct {
	file string
	src  []byte
	typ  string
	name string
	body *hclsyntax.Body
	line int
}

func (r *tfResource) addr() string { return r.typ + "." + r.name }

func parseTerraform(file string, b []byte) (f *tfFile, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, &ParseError{File: file, Err: fmt.Errorf("malformed HCL: %v", r)}
		}
	}()
	hf, diags := hclparse.NewParser().ParseHCL(b, file)
	if diags.HasErrors() {
		for _, d := range diags {
			if d.Severity != hcl.DiagError {
				continue
			}
			line := 0
			if d.Subject != nil {
				line = d.Subject.Start.Line
			}
			return nil, &ParseError{File: file, Line: line, Err: fmt.Errorf("malformed HCL: %s: %s", d.Summary, d.Detail)}
		}
	}
	body, ok := hf.Body.(*hclsyntax.Body)
	if !ok {
		return nil, &ParseError{File: file, Err: errors.New("not HCL native syntax")}
	}
	f = &tfFile{file: file, src: b}
	for _, blk := range body.Blocks {
		if blk.Type != "resource" || len(blk.Labels) != 2 {
			continue
		}
		f.resources = append(f.resources, &tfResource{file: file, src: b, typ: blk.Labels[0], name: blk.Labels[1], body: blk.Body, line: blk.DefRange().Start.Line})
	}
	return f, nil
}

func (r *tfResource) attr(name string) *hclsyntax.Attribute {
	if r == nil || r.body == nil {
		return nil
	}
	return r.body.Attributes[name]
}

func block(b *hclsyntax.Body, typ string) *hclsyntax.Block {
	if b == nil {
		return nil
	}
	for _, blk := range b.Blocks {
		if blk.Type == typ {
			return blk
		}
	}
	return nil
}

// literal evaluates an attribute that needs no variables, as a string.
func literal(a *hclsyntax.Attribute) (string, bool) {
	if a == nil {
		return "", false
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() {
		return "", false
	}
	switch {
	case v.Type().FriendlyName() == "string":
		return v.AsString(), true
	case v.Type().FriendlyName() == "number":
		return v.AsBigFloat().Text('f', -1), true
	case v.Type().FriendlyName() == "bool":
		if v.True() {
			return "true", true
		}
		return "false", true
	}
	return "", false
}

// refersTo reports whether the attribute's expression refers to resource
// r (r.id, r.name, ...) or holds r's name as a literal.
func refersTo(a *hclsyntax.Attribute, r *tfResource) bool {
	if a == nil || r == nil {
		return false
	}
	for _, tr := range a.Expr.Variables() {
		if len(tr) >= 2 {
			root := tr.RootName()
			if at, ok := tr[1].(hcl.TraverseAttr); ok && root == r.typ && at.Name == r.name {
				return true
			}
		}
	}
	if s, ok := literal(a); ok {
		if n, ok := literal(r.attr("name")); ok && (s == n || strings.HasSuffix(s, "/"+n)) {
			return true
		}
	}
	return false
}

// source returns the source text of an attribute's expression.
func (r *tfResource) source(a *hclsyntax.Attribute) string {
	rg := a.Expr.Range()
	if rg.Start.Byte < 0 || rg.End.Byte > len(r.src) || rg.Start.Byte > rg.End.Byte {
		return ""
	}
	return string(r.src[rg.Start.Byte:rg.End.Byte])
}

func (p *project) tfResources(typ ...string) []*tfResource {
	var out []*tfResource
	for _, f := range p.tf {
		for _, r := range f.resources {
			for _, t := range typ {
				if r.typ == t {
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// isPubSubAgent reports whether a member expression names the Pub/Sub
// service agent.
func isPubSubAgent(r *tfResource, a *hclsyntax.Attribute) bool {
	if a == nil {
		return false
	}
	s := r.source(a)
	return strings.Contains(s, "gcp-sa-pubsub") || strings.Contains(s, "pubsub_agent") || strings.Contains(s, "service_identity")
}

// grants reports whether an IAM member or binding resource of the given
// types grants role on target to the Pub/Sub service agent.
func (p *project) grants(target *tfResource, targetAttr, role string, types ...string) bool {
	for _, m := range p.tfResources(types...) {
		if !refersTo(m.attr(targetAttr), target) {
			continue
		}
		if r, _ := literal(m.attr("role")); r != role {
			continue
		}
		if isPubSubAgent(m, m.attr("member")) || isPubSubAgent(m, m.attr("members")) {
			return true
		}
	}
	return false
}

func (p *project) checkTerraform() []Finding {
	var out []Finding
	topics := p.tfResources("google_pubsub_topic")
	subs := p.tfResources("google_pubsub_subscription")
	// Dead-letter topics: the targets of dead-letter policies.
	dlTopics := map[*tfResource]bool{}
	for _, s := range subs {
		if dl := block(s.body, "dead_letter_policy"); dl != nil {
			for _, t := range topics {
				if refersTo(dl.Body.Attributes["dead_letter_topic"], t) {
					dlTopics[t] = true
				}
			}
		}
	}
	for _, s := range subs {
		var topic *tfResource
		for _, t := range topics {
			if refersTo(s.attr("topic"), t) {
				topic = t
			}
		}
		if topic != nil && dlTopics[topic] {
			// A dead-letter subscription: it keeps dead letters.
			if !p.alertOn(s) {
				out = append(out, finding("dlq-alarm", s.file, s.line,
					"dead-letter subscription %s has no Cloud Monitoring alert policy on its backlog: dead letters pile up unseen", s.addr()))
			}
			continue
		}
		dl := block(s.body, "dead_letter_policy")
		if dl == nil {
			out = append(out, finding("pubsub-dead-letter-policy", s.file, s.line,
				"subscription %s has no dead_letter_policy: a message that always fails is redelivered until its retention ends, then lost", s.addr()))
		} else {
			var dlt *tfResource
			for _, t := range topics {
				if refersTo(dl.Body.Attributes["dead_letter_topic"], t) {
					dlt = t
				}
			}
			if dlt != nil && !p.grants(dlt, "topic", "roles/pubsub.publisher", "google_pubsub_topic_iam_member", "google_pubsub_topic_iam_binding") {
				out = append(out, finding("pubsub-dead-letter-iam", s.file, dl.DefRange().Start.Line,
					"the Pub/Sub service agent has no roles/pubsub.publisher on dead-letter topic %s: messages of %s are never forwarded", dlt.addr(), s.addr()))
			}
			if !p.grants(s, "subscription", "roles/pubsub.subscriber", "google_pubsub_subscription_iam_member", "google_pubsub_subscription_iam_binding") {
				out = append(out, finding("pubsub-dead-letter-iam", s.file, dl.DefRange().Start.Line,
					"the Pub/Sub service agent has no roles/pubsub.subscriber on %s: it cannot acknowledge what it dead-letters", s.addr()))
			}
		}
		// Retention against the idempotency TTL of the function it feeds.
		ret := 7 * 24 * time.Hour
		if a := s.attr("message_retention_duration"); a != nil {
			if v, ok := literal(a); ok {
				if d, err := time.ParseDuration(v); err == nil {
					ret = d
				}
			}
		}
		if fn := p.pushTarget(s); fn != nil {
			ttl, line, set := p.tfTTL(fn)
			if ttl < ret {
				out = append(out, finding("idempotency-ttl", fn.file, line,
					"idempotency TTL %v (%s) of %s is shorter than %s's message retention %v: a copy delivered after the record expired runs again",
					ttl, envTTLSource(set), fn.addr(), s.addr(), ret))
			}
		}
	}
	for t := range dlTopics {
		kept := false
		for _, s := range subs {
			if refersTo(s.attr("topic"), t) {
				kept = true
			}
		}
		if !kept {
			out = append(out, finding("dead-letter-topic-subscription", t.file, t.line,
				"dead-letter topic %s has no subscription: Pub/Sub drops what is published to a topic nobody subscribes to", t.addr()))
		}
	}
	for _, fn := range p.tfResources("google_cloudfunctions2_function") {
		if et := block(fn.body, "event_trigger"); et != nil {
			if v, _ := literal(et.Body.Attributes["retry_policy"]); v != "RETRY_POLICY_RETRY" {
				out = append(out, finding("function-retry", fn.file, et.DefRange().Start.Line,
					"%s's event_trigger has no retry_policy = \"RETRY_POLICY_RETRY\": a failed event is dropped", fn.addr()))
			}
		}
	}
	for _, fn := range p.tfResources("google_cloudfunctions_function") {
		if et := block(fn.body, "event_trigger"); et != nil {
			fp := block(et.Body, "failure_policy")
			if v, _ := literal(attrOf(fp, "retry")); fp == nil || v != "true" {
				out = append(out, finding("function-retry", fn.file, et.DefRange().Start.Line,
					"%s's event_trigger has no failure_policy { retry = true }: a failed event is dropped", fn.addr()))
			}
		}
	}
	return out
}

func attrOf(b *hclsyntax.Block, name string) *hclsyntax.Attribute {
	if b == nil {
		return nil
	}
	return b.Body.Attributes[name]
}

// alertOn reports whether an alert policy's condition filter names the
// subscription.
func (p *project) alertOn(s *tfResource) bool {
	name, _ := literal(s.attr("name"))
	for _, a := range p.tfResources("google_monitoring_alert_policy") {
		for _, c := range a.body.Blocks {
			if c.Type != "conditions" {
				continue
			}
			for _, ct := range c.Body.Blocks {
				f := ct.Body.Attributes["filter"]
				if f == nil {
					continue
				}
				src := a.source(f)
				if strings.Contains(src, s.addr()) || name != "" && strings.Contains(src, name) {
					return true
				}
			}
		}
	}
	return false
}

// pushTarget returns the function or Cloud Run service a push
// subscription delivers to.
func (p *project) pushTarget(s *tfResource) *tfResource {
	pc := block(s.body, "push_config")
	if pc == nil {
		return nil
	}
	ep := pc.Body.Attributes["push_endpoint"]
	for _, fn := range p.tfResources("google_cloudfunctions2_function", "google_cloud_run_v2_service") {
		if refersTo(ep, fn) {
			return fn
		}
	}
	return nil
}

// tfTTL finds EVENTFN_IDEMPOTENCY_TTL in a function's or service's
// environment.
func (p *project) tfTTL(fn *tfResource) (time.Duration, int, bool) {
	var found *hclsyntax.Attribute
	var walk func(b *hclsyntax.Body)
	walk = func(b *hclsyntax.Body) {
		for _, a := range b.Attributes {
			if a.Name == "environment_variables" {
				if obj, ok := a.Expr.(*hclsyntax.ObjectConsExpr); ok {
					for _, it := range obj.Items {
						if k, ok := literalExpr(it.KeyExpr); ok && k == envTTL {
							found = &hclsyntax.Attribute{Name: envTTL, Expr: it.ValueExpr, SrcRange: it.KeyExpr.Range()}
						}
					}
				}
			}
		}
		for _, blk := range b.Blocks {
			if blk.Type == "env" {
				if n, _ := literal(blk.Body.Attributes["name"]); n == envTTL {
					found = blk.Body.Attributes["value"]
				}
			}
			walk(blk.Body)
		}
	}
	walk(fn.body)
	if found == nil {
		return defaultTTL, fn.line, false
	}
	if v, ok := literal(found); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d, found.SrcRange.Start.Line, true
		}
	}
	return defaultTTL, found.SrcRange.Start.Line, true
}

func literalExpr(e hclsyntax.Expression) (string, bool) {
	if k, ok := e.(*hclsyntax.ObjectConsKeyExpr); ok {
		if tr := hcl.ExprAsKeyword(k.Wrapped); tr != "" {
			return tr, true
		}
		e = k.Wrapped
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsKnown() || v.IsNull() || v.Type().FriendlyName() != "string" {
		return "", false
	}
	return v.AsString(), true
}
