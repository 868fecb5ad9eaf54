// Package reliability is eventfn's fault-injection suite: the failures that
// decide whether the exactly-once promise holds (a process killed after the
// effect, a store restarted, paused or killed mid-batch, concurrent copies
// of one message, handlers that outlive their lease), each reproduced on the
// real servers scripts/test.sh starts. It holds tests only, in a module of
// its own so its test dependencies stay out of the library's go.mod.
package reliability
