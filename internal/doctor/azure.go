package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// azFunction is a function.json.
type azFunction struct {
	file        string
	triggerLine int // of the serviceBusTrigger binding; 0 when none
	retry       *azRetry
	outSettings []string // app settings naming output queues ("%NAME%")
}

// azHost is a host.json.
type azHost struct {
	file         string
	timeout      time.Duration // functionTimeout; 0 when unset
	timeoutLine  int
	renewal      time.Duration // serviceBus.maxAutoLockRenewalDuration; 0 when unset
	renewalLine  int
	retry        *azRetry
	unlimitedRun bool // functionTimeout -1
}

type azRetry struct {
	count int
	line  int
}

// azSettings is a local.settings.json.
type azSettings struct {
	file    string
	ttl     string
	ttlLine int
}

// parseJSONNode parses JSON (as YAML, which keeps line numbers).
func parseJSONNode(file string, b []byte) (n *yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			n, err = nil, &ParseError{File: file, Err: fmt.Errorf("malformed JSON: %v", r)}
		}
	}()
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(b)).Decode(&doc); err != nil {
		return nil, &ParseError{File: file, Line: yamlErrLine(err), Err: fmt.Errorf("malformed JSON: %w", err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, &ParseError{File: file, Line: root.Line, Err: errors.New("not a JSON object")}
	}
	return root, nil
}

func parseRetry(n *yaml.Node) *azRetry {
	r := get(n, "retry")
	if r == nil {
		return nil
	}
	c := 0
	if v := get(r, "maxRetryCount"); v != nil {
		c, _ = strconv.Atoi(v.Value)
	}
	return &azRetry{count: c, line: r.Line}
}

func parseFunctionJSON(file string, b []byte) (*azFunction, error) {
	root, err := parseJSONNode(file, b)
	if err != nil {
		return nil, err
	}
	f := &azFunction{file: file, retry: parseRetry(root)}
	for _, bnd := range seq(get(root, "bindings")) {
		t := get(bnd, "type")
		if t != nil && strings.EqualFold(t.Value, "serviceBusTrigger") {
			f.triggerLine = bnd.Line
		}
		if t != nil && strings.EqualFold(t.Value, "serviceBus") {
			if q := get(bnd, "queueName"); q != nil && strings.HasPrefix(q.Value, "%") {
				f.outSettings = append(f.outSettings, strings.Trim(q.Value, "%"))
			}
		}
	}
	return f, nil
}

func parseHostJSON(file string, b []byte) (*azHost, error) {
	root, err := parseJSONNode(file, b)
	if err != nil {
		return nil, err
	}
	h := &azHost{file: file, retry: parseRetry(root)}
	if t := get(root, "functionTimeout"); t != nil {
		h.timeoutLine = t.Line
		if t.Value == "-1" {
			h.unlimitedRun = true
		} else if d, ok := timeSpan(t.Value); ok {
			h.timeout = d
		} else {
			return nil, &ParseError{File: file, Line: t.Line, Err: fmt.Errorf("functionTimeout %q is not a time span (hh:mm:ss)", t.Value)}
		}
	}
	if r := get(get(get(root, "extensions"), "serviceBus"), "maxAutoLockRenewalDuration"); r != nil {
		h.renewalLine = r.Line
		d, ok := timeSpan(r.Value)
		if !ok {
			return nil, &ParseError{File: file, Line: r.Line, Err: fmt.Errorf("maxAutoLockRenewalDuration %q is not a time span (hh:mm:ss)", r.Value)}
		}
		h.renewal = d
	}
	return h, nil
}

func parseSettings(file string, b []byte) (*azSettings, error) {
	root, err := parseJSONNode(file, b)
	if err != nil {
		return nil, err
	}
	s := &azSettings{file: file}
	if v := get(get(root, "Values"), envTTL); v != nil {
		s.ttl, s.ttlLine = v.Value, v.Line
	}
	return s, nil
}

// timeSpan parses a .NET TimeSpan: [d.]hh:mm:ss[.fff].
func timeSpan(s string) (time.Duration, bool) {
	var days int
	if i := strings.Index(s, "."); i >= 0 && i < strings.Index(s, ":") {
		d, err := strconv.Atoi(s[:i])
		if err != nil {
			return 0, false
		}
		days, s = d, s[i+1:]
	}
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err1 != nil || err2 != nil || err3 != nil || h < 0 || m < 0 || sec < 0 {
		return 0, false
	}
	return time.Duration(days)*24*time.Hour + time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec*float64(time.Second)), true
}

var isoRE = regexp.MustCompile(`^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$`)

// isoDuration parses the ISO 8601 durations Service Bus uses (P4D, PT1M).
func isoDuration(s string) (time.Duration, bool) {
	m := isoRE.FindStringSubmatch(s)
	if m == nil || s == "P" || s == "PT" {
		return 0, false
	}
	var d time.Duration
	for i, unit := range []time.Duration{24 * time.Hour, time.Hour, time.Minute} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return 0, false
			}
			d += time.Duration(n) * unit
		}
	}
	if m[4] != "" {
		f, _ := strconv.ParseFloat(m[4], 64)
		d += time.Duration(f * float64(time.Second))
	}
	return d, true
}

// bicepFile is what the line scanner finds in a .bicep file.
type bicepFile struct {
	file        string
	flex        bool // a Flex Consumption plan (FC1)
	queues      []*bicepQueue
	deadAlert   bool // a metric alert on DeadletteredMessages
	ttl         string
	ttlLine     int
	settingRefs map[string]string // app setting -> the resource symbol whose name it holds
}

type bicepQueue struct {
	name                  string
	line                  int
	maxDelivery           string
	maxDeliveryLine       int
	lockDuration          string
	lockLine              int
	messageTTL            string
	messageTTLLine        int
	maxDeliveryEvaluated  bool
	lockEvaluated         bool
	messageTTLEvaluatedOK bool
}

var (
	bicepParam    = regexp.MustCompile(`^\s*param\s+(\w+)\s+\w+\s*=\s*(.+?)\s*$`)
	bicepVar      = regexp.MustCompile(`^\s*var\s+(\w+)\s*=\s*\{\s*$`)
	bicepResource = regexp.MustCompile(`^\s*resource\s+(\w+)\s+'([^']+)'`)
	bicepKey      = regexp.MustCompile(`^\s*(\w+)\s*:\s*(.+?)\s*(//.*)?$`)
	bicepSetting  = regexp.MustCompile(`name:\s*'` + envTTL + `'\s*,\s*value:\s*'([^']*)'`)
	bicepSymRef   = regexp.MustCompile(`name:\s*'(\w+)'\s*,\s*value:\s*(\w+)\.name\b`)
)

// parseBicep scans a Bicep file. It never fails: what it cannot read is
// left unevaluated.
func parseBicep(file string, b []byte) *bicepFile {
	lines := strings.Split(string(b), "\n")
	f := &bicepFile{file: file, settingRefs: map[string]string{}}
	params := map[string]string{}
	vars := map[string]map[string]lineVal{}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if m := bicepParam.FindStringSubmatch(l); m != nil {
			params[m[1]] = m[2]
		}
		if m := bicepVar.FindStringSubmatch(l); m != nil {
			end := blockEnd(lines, i)
			vars[m[1]] = keysIn(lines, i+1, end)
		}
		if m := bicepSymRef.FindStringSubmatch(l); m != nil {
			f.settingRefs[m[1]] = m[2]
		}
		if m := bicepSetting.FindStringSubmatch(l); m != nil {
			f.ttl, f.ttlLine = m[1], i+1
		}
		if strings.Contains(l, "'FC1'") || strings.Contains(l, "FlexConsumption") {
			f.flex = true
		}
		if strings.Contains(l, "'DeadletteredMessages'") {
			f.deadAlert = true
		}
		m := bicepResource.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		typ, _, _ := strings.Cut(m[2], "@")
		if !strings.EqualFold(typ, "Microsoft.ServiceBus/namespaces/queues") {
			continue
		}
		end := blockEnd(lines, i)
		keys := keysIn(lines, i+1, end)
		if pv, ok := keys["properties"]; ok {
			if vk, ok := vars[pv.val]; ok {
				for k, v := range vk {
					if _, set := keys[k]; !set {
						keys[k] = v
					}
				}
			}
		}
		q := &bicepQueue{name: m[1], line: i + 1}
		eval := func(k string) (string, int, bool) {
			v, ok := keys[k]
			if !ok {
				return "", 0, false
			}
			s := v.val
			if pv, ok := params[s]; ok {
				s = pv
			}
			return strings.Trim(s, "'"), v.line, true
		}
		q.maxDelivery, q.maxDeliveryLine, q.maxDeliveryEvaluated = eval("maxDeliveryCount")
		q.lockDuration, q.lockLine, q.lockEvaluated = eval("lockDuration")
		q.messageTTL, q.messageTTLLine, q.messageTTLEvaluatedOK = eval("defaultMessageTimeToLive")
		f.queues = append(f.queues, q)
		i = end
	}
	return f
}

type lineVal struct {
	val  string
	line int
}

// blockEnd returns the index of the line that closes the block opened on
// line start, counting braces and brackets outside strings.
func blockEnd(lines []string, start int) int {
	depth := 0
	opened := false
	for i := start; i < len(lines); i++ {
		inStr := false
		for _, c := range lines[i] {
			switch {
			case c == '\'':
				inStr = !inStr
			case inStr:
			case c == '{' || c == '[':
				depth++
				opened = true
			case c == '}' || c == ']':
				depth--
			}
		}
		if opened && depth <= 0 {
			return i
		}
	}
	return len(lines) - 1
}

// keysIn collects "key: value" lines between from and to, at any depth.
func keysIn(lines []string, from, to int) map[string]lineVal {
	out := map[string]lineVal{}
	for i := from; i <= to && i < len(lines); i++ {
		if m := bicepKey.FindStringSubmatch(lines[i]); m != nil {
			out[m[1]] = lineVal{strings.TrimSuffix(m[2], ","), i + 1}
		}
	}
	return out
}

// Defaults of the Functions host and Service Bus.
const (
	hostDefaultTimeout     = 5 * time.Minute  // Consumption plan
	flexDefaultTimeout     = 30 * time.Minute // Flex Consumption plan
	hostDefaultRenewal     = 5 * time.Minute
	serviceBusDefaultLock  = time.Minute
	serviceBusDefaultMaxDC = 10
)

func (p *project) checkAzure() []Finding {
	var out []Finding
	var triggers []*azFunction
	for _, f := range p.functions {
		if f.triggerLine > 0 {
			triggers = append(triggers, f)
		}
	}
	var queues []*bicepQueue
	var bicepOf = map[*bicepQueue]*bicepFile{}
	flex, deadAlert := false, false
	for _, b := range p.bicep {
		for _, q := range b.queues {
			queues = append(queues, q)
			bicepOf[q] = b
		}
		flex = flex || b.flex
		deadAlert = deadAlert || b.deadAlert
	}
	// Output-only (parking) queues are not read by a trigger: the lock and
	// TTL rules do not apply to them.
	parking := map[*bicepQueue]bool{}
	for _, f := range p.functions {
		for _, set := range f.outSettings {
			for _, q := range queues {
				if bicepOf[q].settingRefs[set] == q.name {
					parking[q] = true
				}
			}
		}
	}
	if len(triggers) > 0 && len(queues) == 0 {
		p.notes = append(p.notes, "Service Bus queue settings (maxDeliveryCount, lockDuration, message TTL) were not checked: no Bicep file declares the queues")
	}
	for _, q := range queues {
		b := bicepOf[q]
		if !q.maxDeliveryEvaluated {
			out = append(out, finding("servicebus-max-delivery-count", b.file, q.line,
				"queue %s sets no maxDeliveryCount: Service Bus's default (%d) applies silently; set it explicitly", q.name, serviceBusDefaultMaxDC))
		}
	}
	if len(queues) > 0 && !deadAlert {
		b := bicepOf[queues[0]]
		out = append(out, finding("dlq-alarm", b.file, queues[0].line,
			"no metric alert on DeadletteredMessages: dead letters pile up unseen"))
	}
	// Lock duration and renewal against the function timeout.
	if len(triggers) > 0 {
		timeout, renewal := hostDefaultTimeout, hostDefaultRenewal
		if flex {
			timeout = flexDefaultTimeout
		}
		where, line := triggers[0].file, triggers[0].triggerLine
		unlimited := false
		for _, h := range p.hosts {
			if h.timeout > 0 {
				timeout, where, line = h.timeout, h.file, h.timeoutLine
			}
			unlimited = unlimited || h.unlimitedRun
			if h.renewal > 0 {
				renewal = h.renewal
			}
		}
		for _, q := range queues {
			if parking[q] {
				continue
			}
			lock := serviceBusDefaultLock
			if q.lockEvaluated {
				if d, ok := isoDuration(q.lockDuration); ok {
					lock = d
				}
			}
			if unlimited || max(lock, renewal) < timeout {
				limit := "functionTimeout " + timeout.String()
				if unlimited {
					limit = "an unlimited functionTimeout"
				}
				out = append(out, finding("servicebus-lock-duration", where, line,
					"queue %s's lock (%v, renewed up to %v) ends before %s: a message still running is delivered again", q.name, lock, renewal, limit))
			}
		}
		// Retries in the host multiply Service Bus's deliveries.
		var retries []*azRetry
		var files []string
		for _, h := range p.hosts {
			if h.retry != nil && h.retry.count > 0 {
				retries, files = append(retries, h.retry), append(files, h.file)
			}
		}
		for _, f := range triggers {
			if f.retry != nil && f.retry.count > 0 {
				retries, files = append(retries, f.retry), append(files, f.file)
			}
		}
		for i, r := range retries {
			mdc := serviceBusDefaultMaxDC
			for _, q := range queues {
				if n, err := strconv.Atoi(q.maxDelivery); err == nil {
					mdc = n
				}
			}
			out = append(out, finding("retry-layers", files[i], r.line,
				"a retry policy (maxRetryCount %d) on a Service Bus trigger multiplies with maxDeliveryCount %d: up to %d runs of one message; let Service Bus retry alone",
				r.count, mdc, (r.count+1)*mdc))
		}
		// The idempotency TTL against the queues' message TTL.
		ttl, tfile, tline, set := defaultTTL, triggers[0].file, triggers[0].triggerLine, false
		for _, b := range p.bicep {
			if b.ttl != "" {
				if d, err := time.ParseDuration(b.ttl); err == nil {
					ttl, tfile, tline, set = d, b.file, b.ttlLine, true
				}
			}
		}
		if !set {
			for _, s := range p.settings {
				if d, err := time.ParseDuration(s.ttl); err == nil && s.ttl != "" {
					ttl, tfile, tline, set = d, s.file, s.ttlLine, true
				}
			}
		}
		for _, q := range queues {
			if parking[q] {
				continue
			}
			if !q.messageTTLEvaluatedOK {
				out = append(out, finding("idempotency-ttl", bicepOf[q].file, q.line,
					"queue %s keeps messages without limit (no defaultMessageTimeToLive) while the idempotency TTL is %v (%s): a copy delivered after the record expired runs again", q.name, ttl, envTTLSource(set)))
				continue
			}
			if d, ok := isoDuration(q.messageTTL); ok && ttl < d {
				out = append(out, finding("idempotency-ttl", tfile, tline,
					"idempotency TTL %v (%s) is shorter than queue %s's message TTL %v: a copy delivered after the record expired runs again", ttl, envTTLSource(set), q.name, d))
			}
		}
	}
	return out
}
