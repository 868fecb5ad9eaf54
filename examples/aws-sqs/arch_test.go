package main_test

import "runtime"

// runtimeArch is the GOARCH the test binary runs on: the bootstrap is built
// for it so that the emulator can run it here.
func runtimeArch() string { return runtime.GOARCH }
