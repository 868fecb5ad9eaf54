package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// docFiles returns the files whose eventfn command lines must work:
// README.md, docs/, every README.md under examples/, and templates/.
func docFiles(t *testing.T) []string {
	t.Helper()
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md")}
	walk := func(dir string, keep func(string) bool) {
		filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && keep(p) {
				files = append(files, p)
			}
			return nil
		})
	}
	walk("docs", func(string) bool { return true })
	walk("examples", func(p string) bool { return filepath.Base(p) == "README.md" })
	walk("templates", func(string) bool { return true })
	return files
}

var (
	fence      = regexp.MustCompile("(?s)```[^\\n]*\\n(.*?)```")
	inlineCode = regexp.MustCompile("`([^`\\n]+)`")
	segmentSep = regexp.MustCompile(`&&|\|\||[;|]|\$\(`)
	envAssign  = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=\S*$`)
)

// commandLines returns the eventfn command lines of a file: in Markdown,
// lines of fenced code blocks and inline code spans; elsewhere, every
// line and backtick span. A command line is a shell segment (split at &&,
// ||, ;, | and $() that starts with eventfn, after any VAR=value.
func commandLines(path, text string) [][]string {
	var chunks []string
	if strings.HasSuffix(path, ".md") {
		for _, m := range fence.FindAllStringSubmatch(text, -1) {
			chunks = append(chunks, strings.Split(m[1], "\n")...)
		}
		text = fence.ReplaceAllString(text, "")
	} else {
		chunks = append(chunks, strings.Split(text, "\n")...)
	}
	for _, m := range inlineCode.FindAllStringSubmatch(text, -1) {
		chunks = append(chunks, m[1])
	}
	var out [][]string
	for _, c := range chunks {
		for _, seg := range segmentSep.Split(c, -1) {
			f := strings.Fields(strings.TrimLeft(strings.TrimSpace(seg), "$(`# "))
			for len(f) > 0 && envAssign.MatchString(f[0]) {
				f = f[1:]
			}
			if len(f) >= 2 && f[0] == "eventfn" {
				out = append(out, f[1:])
			}
		}
	}
	return out
}

func TestEveryDocumentedCommandExists(t *testing.T) {
	root := newRootCmd()
	word := regexp.MustCompile(`^[a-z][a-z-]*$`)
	checked := map[string]bool{}
	for _, path := range docFiles(t) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, words := range commandLines(path, string(b)) {
			if !word.MatchString(words[0]) {
				continue
			}
			cmd, rest, err := root.Find(words)
			if err != nil || cmd == root {
				t.Errorf("%s: eventfn %s: no such command", path, strings.Join(words, " "))
				continue
			}
			// A command with subcommands must be given an existing one.
			if cmd.HasSubCommands() && len(rest) > 0 && word.MatchString(rest[0]) {
				t.Errorf("%s: eventfn %s: %q is not a subcommand of %s", path, strings.Join(words, " "), rest[0], cmd.CommandPath())
			}
			for _, tok := range rest {
				if !strings.HasPrefix(tok, "--") || tok == "--" {
					continue
				}
				name, _, _ := strings.Cut(strings.TrimPrefix(tok, "--"), "=")
				name = strings.TrimRight(name, ").,;:'\"`")
				if name != "" && cmd.Flag(name) == nil {
					t.Errorf("%s: %s has no flag --%s", path, cmd.CommandPath(), name)
				}
			}
			checked[cmd.CommandPath()] = true
		}
	}
	for path := range checked {
		args := append(strings.Fields(path)[1:], "--help")
		code, out, errs := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d\n%s%s", path, code, out, errs)
		}
	}
	if !checked["eventfn demo"] {
		t.Errorf("no documented command found; checked %v", checked)
	}
}

func TestCommandLinesAreFound(t *testing.T) {
	md := "Run `eventfn demo --events 5`, then\n\n```sh\n$ AWS_REGION=x eventfn send mem://t a && eventfn invoke --platform aws || [ $? -eq 3 ]\n// eventfn wraps your handler\n```\nprose: eventfn wraps it.\n"
	got := commandLines("x.md", md)
	want := [][]string{{"send", "mem://t", "a"}, {"invoke", "--platform", "aws"}, {"demo", "--events", "5"}}
	if len(got) != len(want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	for i := range want {
		if strings.Join(got[i], " ") != strings.Join(want[i], " ") {
			t.Errorf("line %d: %q, want %q", i, got[i], want[i])
		}
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		args := append(strings.Fields(c.CommandPath())[1:], "--help")
		if code, out, _ := runCLI(t, args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%s --help: exit %d", c.CommandPath(), code)
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
}
