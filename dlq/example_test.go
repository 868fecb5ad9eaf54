package dlq_test

import (
	"context"
	"fmt"
	"time"

	"github.com/eventfn/eventfn/dlq"
)

// Redrive with a dry run first: the filter selects the messages of the last
// hour whose recorded error mentions "boom 1", and nothing is sent or
// deleted.
func ExampleRedrive() {
	d := newMem(6) // any dlq.Driver: sqsdlq, pubsubdlq, sbdlq, rabbitdlq
	opts := &dlq.RedriveOptions{
		DryRun: true,
		Filter: &dlq.Filter{ErrorContains: "boom 1", NewerThan: time.Hour},
		Now:    func() time.Time { return time.Unix(1030, 0) },
		OnMessage: func(m *dlq.Message, err error) {
			fmt.Println("would move", m.ID, m.ErrorText())
		},
	}
	st, err := dlq.Redrive(context.Background(), d, opts)
	fmt.Println(st.Selected, st.Skipped, err)
	// Output:
	// would move m1 boom 1
	// would move m4 boom 1
	// 2 4 <nil>
}
