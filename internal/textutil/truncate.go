// Package textutil holds small text helpers shared by the adapters.
package textutil

import "unicode/utf8"

// Truncate returns s cut to at most n bytes without splitting a UTF-8
// sequence; invalid bytes are kept as they are up to the cut.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	cut := n
	// Step back over continuation bytes so the last rune is whole.
	for cut > 0 && cut > n-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
