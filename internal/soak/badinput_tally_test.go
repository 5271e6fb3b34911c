package soak

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"
)

// badTally collects the bad inputs' outcomes from every node's calls.
type badTally struct {
	mu    sync.Mutex
	byKey map[string]*KindResult
	// byCase keeps the first problem of each variant, and how many.
	byCase  map[string][]string
	retries int
}

func (b *badTally) retried() {
	b.mu.Lock()
	b.retries++
	b.mu.Unlock()
}

func (b *badTally) kinds() []KindResult {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]KindResult, 0, len(b.byKey))
	for _, k := range b.byKey {
		out = append(out, *k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

func (b *badTally) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for name, ps := range b.byCase {
		out = append(out, fmt.Sprintf("bad input %q: %d of its calls not answered cleanly; first: %s", name, len(ps), ps[0]))
	}
	sort.Strings(out)
	return out
}

// record checks one bad input's answer against its kind's promise.
func (b *badTally) record(p *podRun, bc badInput, add, del callOutcome, links []string) {
	code := "ok"
	if add.err != nil {
		code = cniCode(add.err)
	}
	var problems []string
	unclean := true
	switch {
	case add.err == nil:
		problems = append(problems, "ADD succeeded")
	case code != bc.want:
		problems = append(problems, fmt.Sprintf("code %s, want %s: %v", code, bc.want, add.err))
	default:
		want := bc.mentions
		if !bc.noPod {
			want = append([]string{"pod " + p.key()}, want...)
		}
		msg := add.err.Error()
		var cniErr *types.Error
		if errors.As(add.err, &cniErr) {
			msg = cniErr.Msg + " " + cniErr.Details
		}
		lacks := messageLacks(msg, want)
		if len(lacks) > 0 {
			problems = append(problems, fmt.Sprintf("message %q does not name %q", clipMsg(msg), lacks))
		}
		unclean = len(lacks) > 0
	}
	panics := 0
	for _, o := range []callOutcome{add, del} {
		if panicked(o.stderr) || (o.err != nil && panicked(o.err.Error())) {
			panics++
			problems = append(problems, "panicked: "+clipMsg(o.stderr))
		}
	}
	if len(links) > 0 {
		problems = append(problems, fmt.Sprintf("left %v in the pod's netns", links))
	}
	// A sandbox the runtime could name (valid pod and container) must be
	// deletable, or the kubelet retries its DEL for ever.
	if del.err != nil && bc.call == nil {
		problems = append(problems, fmt.Sprintf("the runtime's DEL of the failed sandbox failed: %v", del.err))
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	k := b.byKey[bc.kind]
	if k == nil {
		k = &KindResult{Kind: bc.kind, Want: bc.want, Codes: map[string]int{}, DelErrors: map[string]int{}}
		b.byKey[bc.kind] = k
	}
	if k.Want != bc.want && !strings.Contains(k.Want, bc.want) {
		k.Want += " or " + bc.want
	}
	k.Inputs++
	k.Codes[code]++
	k.Panics += panics
	if len(links) > 0 {
		k.LeftBehind++
	}
	if del.err != nil {
		k.DelErrors[cniCode(del.err)]++
	}
	if unclean {
		k.Unclean++
	}
	if len(problems) > 0 {
		b.byCase[bc.name] = append(b.byCase[bc.name], strings.Join(problems, "; "))
	}
}

func clipMsg(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// podLinks lists the links of a pod's netns but lo.
func podLinks(netns ns.NetNS) ([]string, error) {
	var out []string
	err := netns.Do(func(ns.NetNS) error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		for _, l := range links {
			if l.Attrs().Name != "lo" {
				out = append(out, l.Attrs().Name)
			}
		}
		return nil
	})
	return out, err
}
