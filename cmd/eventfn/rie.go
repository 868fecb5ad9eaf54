package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The Lambda Runtime Interface Emulator eventfn installs when none is found;
// the version scripts/services/rie.sh pins.
const (
	rieModule  = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie"
	rieVersion = "v0.0.0-20261030222936-bef5c4ba774d"
)

// findRIE returns the aws-lambda-rie to run: $EVENTFN_RIE_BIN, then PATH,
// then the go install directory ($GOBIN or $GOPATH/bin), where it is
// installed with go install when missing.
func findRIE(ctx context.Context, progress io.Writer) (string, error) {
	if p := os.Getenv("EVENTFN_RIE_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("EVENTFN_RIE_BIN: %w", err)
		}
		return p, nil
	}
	if p, err := exec.LookPath("aws-lambda-rie"); err == nil {
		return p, nil
	}
	bin, err := goInstallDir(ctx)
	if err != nil {
		return "", err
	}
	p := filepath.Join(bin, "aws-lambda-rie")
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintf(progress, "eventfn invoke: installing %s@%s into %s\n", rieModule, rieVersion, bin)
	cmd := exec.CommandContext(ctx, "go", "install", rieModule+"@"+rieVersion)
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("installing aws-lambda-rie: %v\n%s\n(install it yourself and put it on PATH, or set EVENTFN_RIE_BIN)", err, bytes.TrimSpace(b))
	}
	return p, nil
}

func goInstallDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOBIN", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env: %w (is Go installed? --build needs it)", err)
	}
	// One line each, GOBIN first (an empty line when unset).
	lines := strings.Split(string(out), "\n")
	if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
		return strings.TrimSpace(lines[0]), nil
	}
	if len(lines) > 1 && strings.TrimSpace(lines[1]) != "" {
		return filepath.Join(strings.Split(strings.TrimSpace(lines[1]), string(os.PathListSeparator))[0], "bin"), nil
	}
	return "", fmt.Errorf("go env GOPATH is empty")
}
