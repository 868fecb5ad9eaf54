package dlq

import "github.com/eventfn/eventfn/handler"

// The dead-letter attributes of package handler, repeated for drivers.
const (
	AttrError     = handler.AttrError
	AttrOutcome   = handler.AttrOutcome
	AttrMessageID = handler.AttrMessageID
	AttrSource    = handler.AttrSource
	AttrQueue     = handler.AttrQueue
)
