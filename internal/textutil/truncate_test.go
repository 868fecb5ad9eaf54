package textutil_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventfn/eventfn/internal/textutil"
)

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		n        int
		want     string
	}{
		{"short strings are kept whole", "abc", 5, "abc"},
		{"ASCII is cut at n", "abcdef", 4, "abcd"},
		{"a rune is never split", "aé", 2, "a"},
		{"a four-byte rune is dropped whole", "ab😀", 5, "ab"},
		{"zero gives empty", "abc", 0, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := textutil.Truncate(tc.in, tc.n)
			if got != tc.want {
				t.Fatalf("Truncate(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
			}
		})
	}
}

func FuzzTruncate(f *testing.F) {
	f.Add(strings.Repeat("é", 700), 1024)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n % 2048
		got := textutil.Truncate(s, n)
		if len(got) > max(n, 0) || !strings.HasPrefix(s, got) {
			t.Fatalf("Truncate(%q, %d) = %q", s, n, got)
		}
		if utf8.ValidString(s) && !utf8.ValidString(got) {
			t.Fatalf("Truncate split a rune: %q", got)
		}
	})
}
