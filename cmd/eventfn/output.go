package main

import (
	"encoding/json"
	"io"

	"github.com/spf13/cobra"
)

// jsonOutput reports whether the user asked for JSON with --json.
func jsonOutput(cmd *cobra.Command) bool {
	v, err := cmd.Flags().GetBool("json")
	return err == nil && v
}

// printResult prints a command's result on its stdout: v as one indented
// JSON document with --json, otherwise whatever text writes. Commands
// return printResult's error.
func printResult(cmd *cobra.Command, v any, text func(w io.Writer) error) error {
	w := cmd.OutOrStdout()
	if jsonOutput(cmd) {
		return printJSON(w, v)
	}
	return text(w)
}

// printJSON writes v as indented JSON and a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// jsonLines writes one compact JSON document per line, for commands that
// stream results (send, run) with --json.
type jsonLines struct{ enc *json.Encoder }

func newJSONLines(w io.Writer) *jsonLines {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return &jsonLines{enc: enc}
}

func (j *jsonLines) write(v any) error { return j.enc.Encode(v) }
