package middleware

import "time"

var epoch = time.Now()

// monotonic reads only the monotonic clock (time.Since of a time that has
// one), which is cheaper than time.Now on machines where reading the wall
// clock is slow, as on some virtual machines. Durations are differences of
// two readings.
func monotonic() time.Duration { return time.Since(epoch) }
