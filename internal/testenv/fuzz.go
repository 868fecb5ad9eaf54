package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// AddFileSeeds adds every file matching pattern (such as "testdata/*.json")
// to f's seed corpus.
func AddFileSeeds(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}
