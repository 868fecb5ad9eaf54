module github.com/eventfn/eventfn/examples/orders

go 1.26.0

require github.com/eventfn/eventfn v0.0.0

replace github.com/eventfn/eventfn => ../..
