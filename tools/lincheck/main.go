// Command lincheck checks a recorded compare-and-swap register history for
// linearizability with porcupine, the checker etcd's own robustness tests use.
// The chaos runner (crates/etcdkit-chaos) builds and runs it; its own Rust
// search cross-checks the verdict.
//
// Input, on stdin, one JSON document:
//
//	{"initial": 0,
//	 "operations": [
//	   {"process": 0, "call_ns": 10, "return_ns": 20,
//	    "input":  {"kind": "read"} | {"kind": "cas", "from": 0, "to": 1},
//	    "output": {"kind": "read", "value": 1} | {"kind": "cas", "ok": true}
//	              | {"kind": "unknown"}}]}
//
// Times are nanoseconds on one clock; intervals are closed, so operations that
// touch in time are concurrent. Definitely failed operations have no effect and
// are left out by the caller. An "unknown" output means the client could not
// tell what happened: an unknown read returned nothing and is left out; an
// unknown CAS gets a return at infinity (return_ns is ignored) and may take
// effect at any point after its call, or never.
//
// Output, on stdout, one JSON line:
//
//	{"linearizable": true|false|null, "detail": "...", "elapsed_ms": N}
//
// where null means the check timed out without a verdict. The exit status is 0
// for any verdict and 2 for input that cannot be read.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"time"

	"github.com/anishathalye/porcupine"
)

type history struct {
	Initial    uint64      `json:"initial"`
	Operations []operation `json:"operations"`
}

type operation struct {
	Process  int    `json:"process"`
	CallNs   int64  `json:"call_ns"`
	ReturnNs int64  `json:"return_ns"`
	Input    input  `json:"input"`
	Output   output `json:"output"`
}

type input struct {
	Kind string `json:"kind"` // "read" or "cas"
	From uint64 `json:"from"`
	To   uint64 `json:"to"`
}

type output struct {
	Kind  string `json:"kind"` // "read", "cas" or "unknown"
	Value uint64 `json:"value"`
	Ok    bool   `json:"ok"`
}

type verdict struct {
	Linearizable *bool  `json:"linearizable"`
	Detail       string `json:"detail"`
	ElapsedMs    int64  `json:"elapsed_ms"`
}

// casRegister is the register's sequential specification. It is
// nondeterministic only for a CAS of unknown outcome: one linearized where the
// register holds `from` may have applied or not, so both states follow.
var casRegister = porcupine.NondeterministicModel{
	Init: func() []interface{} { return nil }, // replaced in main by the initial value
	Step: func(state, in, out interface{}) []interface{} {
		s, i, o := state.(uint64), in.(input), out.(output)
		switch {
		case i.Kind == "read" && o.Kind == "read":
			if o.Value == s {
				return []interface{}{s}
			}
		case i.Kind == "cas" && o.Kind == "cas":
			if o.Ok && s == i.From {
				return []interface{}{i.To}
			}
			if !o.Ok && s != i.From {
				return []interface{}{s}
			}
		case i.Kind == "cas" && o.Kind == "unknown":
			if s == i.From {
				return []interface{}{i.To, s}
			}
			return []interface{}{s}
		}
		return nil
	},
	// Hashing the value lets porcupine's cache skip most state comparisons.
	Hash: func(state interface{}) uint64 { return state.(uint64) * 0x9e3779b97f4a7c15 },
	DescribeOperation: func(in, out interface{}) string {
		i, o := in.(input), out.(output)
		var call, ret string
		if i.Kind == "read" {
			call = "read"
		} else {
			call = fmt.Sprintf("cas(%d->%d)", i.From, i.To)
		}
		switch o.Kind {
		case "read":
			ret = fmt.Sprint(o.Value)
		case "cas":
			ret = fmt.Sprint(o.Ok)
		default:
			ret = "unknown"
		}
		return call + " -> " + ret
	},
}

func main() {
	timeout := flag.Duration("timeout", time.Minute, "give up (verdict unknown) after this long")
	flag.Parse()
	h, err := readHistory(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "lincheck:", err)
		os.Exit(2)
	}
	ops := operations(h)
	nm := casRegister
	nm.Init = func() []interface{} { return []interface{}{h.Initial} }
	model := nm.ToModel()

	start := time.Now()
	result := porcupine.CheckOperationsTimeout(model, ops, *timeout)
	var v verdict
	switch result {
	case porcupine.Ok:
		yes := true
		v = verdict{Linearizable: &yes, Detail: fmt.Sprintf("%d operations checked", len(ops))}
	case porcupine.Illegal:
		no := false
		v = verdict{Linearizable: &no, Detail: illegalDetail(model, ops, h.Initial, *timeout)}
	default:
		v = verdict{Detail: fmt.Sprintf("no verdict within %v (%d operations)", *timeout, len(ops))}
	}
	v.ElapsedMs = time.Since(start).Milliseconds()
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false) // keep "->" readable
	if err := out.Encode(v); err != nil {
		fmt.Fprintln(os.Stderr, "lincheck:", err)
		os.Exit(1)
	}
}

func readHistory(r io.Reader) (history, error) {
	var h history
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&h); err != nil {
		return h, fmt.Errorf("reading the history: %w", err)
	}
	if h.Operations == nil {
		return h, errors.New("reading the history: no \"operations\" array")
	}
	for n, op := range h.Operations {
		valid := (op.Input.Kind == "read" && (op.Output.Kind == "read" || op.Output.Kind == "unknown")) ||
			(op.Input.Kind == "cas" && (op.Output.Kind == "cas" || op.Output.Kind == "unknown"))
		if !valid {
			return h, fmt.Errorf("operation %d: input %q with output %q", n, op.Input.Kind, op.Output.Kind)
		}
		if op.Output.Kind != "unknown" && op.ReturnNs < op.CallNs {
			return h, fmt.Errorf("operation %d returns (%d ns) before its call (%d ns)", n, op.ReturnNs, op.CallNs)
		}
	}
	return h, nil
}

// operations turns the history into porcupine's, leaving out unknown reads (they
// returned nothing and changed nothing) and moving unknown CASes' returns to
// infinity.
func operations(h history) []porcupine.Operation {
	var ops []porcupine.Operation
	for _, op := range h.Operations {
		ret := op.ReturnNs
		if op.Output.Kind == "unknown" {
			if op.Input.Kind == "read" {
				continue
			}
			ret = math.MaxInt64
		}
		ops = append(ops, porcupine.Operation{
			ClientId: op.Process,
			Input:    op.Input,
			Call:     op.CallNs,
			Output:   op.Output,
			Return:   ret,
		})
	}
	return ops
}

// illegalDetail runs the check again, verbosely, to find the longest partial
// linearization and name the operation that stopped it: the unplaced one that
// returned first. The second run costs about what the first did, and only
// histories that are not linearizable pay it.
func illegalDetail(model porcupine.Model, ops []porcupine.Operation, initial uint64, timeout time.Duration) string {
	base := fmt.Sprintf("no linearization of %d operations (register starting at %d)", len(ops), initial)
	_, info := porcupine.CheckOperationsVerbose(model, ops, timeout)
	var longest []int
	for _, partition := range info.PartialLinearizations() {
		for _, partial := range partition {
			if len(partial) > len(longest) {
				longest = partial
			}
		}
	}
	// Without a Partition function there is one partition, whose ids are
	// indexes into ops.
	placed := make([]bool, len(ops))
	for _, id := range longest {
		if id >= 0 && id < len(ops) {
			placed[id] = true
		}
	}
	stuck := -1
	for id, op := range ops {
		if !placed[id] && (stuck < 0 || op.Return < ops[stuck].Return) {
			stuck = id
		}
	}
	if stuck < 0 {
		return base
	}
	op := ops[stuck]
	return fmt.Sprintf("%s: the longest partial linearization places %d; it could not place process %d's %s (called at %d ns, returned at %d ns)",
		base, len(longest), op.ClientId, model.DescribeOperation(op.Input, op.Output), op.Call, op.Return)
}
