package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func fakeExecutable(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "aws-lambda-rie")
	if err := os.WriteFile(p, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFindRIELooksInTheEnvironmentThenPathThenGOBIN(t *testing.T) {
	ctx := context.Background()
	onPath, inGOBIN := t.TempDir(), t.TempDir()
	t.Setenv("GOBIN", inGOBIN)
	t.Setenv("PATH", filepath.Dir(goBinary(t))) // go, but no aws-lambda-rie
	t.Setenv("EVENTFN_RIE_BIN", "")

	want := fakeExecutable(t, inGOBIN)
	if got, err := findRIE(ctx, io.Discard); err != nil || got != want {
		t.Errorf("GOBIN: %q %v, want %q", got, err, want)
	}
	t.Setenv("PATH", onPath+string(os.PathListSeparator)+os.Getenv("PATH"))
	want = fakeExecutable(t, onPath)
	if got, err := findRIE(ctx, io.Discard); err != nil || got != want {
		t.Errorf("PATH: %q %v, want %q", got, err, want)
	}
	explicit := fakeExecutable(t, t.TempDir())
	t.Setenv("EVENTFN_RIE_BIN", explicit)
	if got, err := findRIE(ctx, io.Discard); err != nil || got != explicit {
		t.Errorf("EVENTFN_RIE_BIN: %q %v", got, err)
	}
	t.Setenv("EVENTFN_RIE_BIN", filepath.Join(t.TempDir(), "missing"))
	if _, err := findRIE(ctx, io.Discard); err == nil {
		t.Error("a missing EVENTFN_RIE_BIN was accepted")
	}
}

func goBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("go")
	if err != nil {
		t.Fatal(err)
	}
	return p
}
