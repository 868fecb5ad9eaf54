package memstore_test

import (
	"testing"

	"github.com/eventfn/eventfn/idempotency"
	"github.com/eventfn/eventfn/idempotency/memstore"
	"github.com/eventfn/eventfn/idempotency/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) idempotency.Store { return memstore.New(nil) },
	})
}
