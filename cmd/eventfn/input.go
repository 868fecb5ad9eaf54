package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxInputBytes bounds what eventfn reads from a file or stdin.
const maxInputBytes = 256 << 20

// readBodies returns the message bodies a command was given: its arguments,
// else the file (or stdin for "-"), else stdin when it is not a terminal.
// A file or stdin holds one body per non-empty line, or a JSON array whose
// elements are the bodies (a string element is the body itself, any other
// value its JSON text).
func readBodies(args []string, file string, stdin io.Reader) ([][]byte, error) {
	if len(args) > 0 {
		if file != "" {
			return nil, usageErrorf("give bodies as arguments or with --file, not both")
		}
		out := make([][]byte, len(args))
		for i, a := range args {
			out[i] = []byte(a)
		}
		return out, nil
	}
	var r io.Reader
	name := "stdin"
	switch {
	case file == "-":
		r = stdin
	case file != "":
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, name = f, file
	default:
		if isTerminalFile(stdin) {
			return nil, usageErrorf("no message bodies: give them as arguments, with --file FILE, or on stdin")
		}
		r = stdin
	}
	b, err := io.ReadAll(io.LimitReader(r, maxInputBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(b) > maxInputBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, maxInputBytes)
	}
	bodies, err := splitBodies(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(bodies) == 0 {
		return nil, fmt.Errorf("%s holds no message bodies", name)
	}
	return bodies, nil
}

// errBadArray is wrapped when input that starts with "[" is not a JSON array.
var errBadArray = errors.New("input starts with '[' but is not a JSON array of bodies")

func splitBodies(b []byte) ([][]byte, error) {
	t := bytes.TrimSpace(b)
	if len(t) > 0 && t[0] == '[' {
		var elems []json.RawMessage
		if err := json.Unmarshal(t, &elems); err != nil {
			return nil, fmt.Errorf("%w: %w", errBadArray, err)
		}
		out := make([][]byte, 0, len(elems))
		for _, e := range elems {
			var s string
			if len(e) > 0 && e[0] == '"' && json.Unmarshal(e, &s) == nil {
				out = append(out, []byte(s))
				continue
			}
			out = append(out, []byte(e))
		}
		return out, nil
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), maxInputBytes)
	for sc.Scan() {
		line := bytes.TrimRight(sc.Bytes(), "\r")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out = append(out, append([]byte(nil), line...))
	}
	return out, sc.Err()
}

// isTerminalFile reports whether r is a character device (a terminal).
func isTerminalFile(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// parseAttrs parses repeated --attr k=v flags.
func parseAttrs(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--attr %q: want key=value", kv)
		}
		out[k] = v
	}
	return out, nil
}
