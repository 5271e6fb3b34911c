package delegate

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"

	"github.com/containernetworking/cni/pkg/types"
)

// Attachment is one ADD of a container, run as a transaction. It records
// each step as it happens: the record it wrote, and every delegate whose
// ADD it started. Unless Commit is called, Rollback deletes those
// delegates, newest first, and removes the record only when every delete
// succeeded, so the runtime's DEL can finish the job from the record alone.
// A delegate whose delete failed still has its interface removed from the
// pod (Unplug), so a failed ADD never leaves the pod half-wired.
type Attachment struct {
	store  RecordStore
	runner *Runner
	base   Record
	// unplug removes an interface from a netns: Unplug, or a test's fake.
	unplug func(netnsPath, ifName string) error

	mu        sync.Mutex
	written   *Record    // the record on disk; nil before the first Write
	tried     []Delegate // delegates whose ADD started and that are not dropped
	committed bool
	inflight  sync.WaitGroup
}

// NewAttachment starts the transaction for the container that base names;
// base's Delegates are ignored.
func NewAttachment(store RecordStore, runner *Runner, base *Record) *Attachment {
	a := &Attachment{store: store, runner: runner, base: *base, unplug: Unplug}
	a.base.Delegates = nil
	return a
}

// Record is the base record, for fields the caller learns late (the pod's UID).
func (a *Attachment) Record() *Record { return &a.base }

// Write stores the record with delegates, before any of them runs. A
// delegate already tried and absent from delegates is kept in front, so
// the record on disk always names everything that may need a DEL.
func (a *Attachment) Write(delegates []Delegate) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	rec := a.base
	for _, t := range a.tried {
		if !containsDelegate(delegates, &t) {
			rec.Delegates = append(rec.Delegates, t)
		}
	}
	rec.Delegates = append(rec.Delegates, delegates...)
	if err := a.store.Write(&rec); err != nil {
		return err
	}
	a.written = &rec
	return nil
}

// Add runs ADD of d, which the written record must hold. The delegate
// counts as tried before it runs: a failed ADD may have done part of its work.
func (a *Attachment) Add(ctx context.Context, d Delegate) (types.Result, error) {
	a.mu.Lock()
	if a.written == nil || !containsDelegate(a.written.Delegates, &d) {
		a.mu.Unlock()
		return nil, fmt.Errorf("add network %s (%s) of %s: the attachment record does not hold it yet", d.Network, d.IfName, a.base.Pod())
	}
	a.tried = append(a.tried, d)
	rec := *a.written
	a.mu.Unlock()
	return a.runner.AddDelegate(ctx, &rec, &d)
}

// Start is Add in the background; wait returns its outcome. Rollback
// waits for it too.
func (a *Attachment) Start(ctx context.Context, d Delegate) (wait func() (types.Result, error)) {
	done := make(chan struct{})
	var res types.Result
	var err error
	a.inflight.Add(1)
	go func() {
		defer a.inflight.Done()
		defer close(done)
		res, err = a.Add(ctx, d)
	}()
	return func() (types.Result, error) {
		<-done
		return res, err
	}
}

// Drop deletes a delegate the ADD no longer wants (the cluster network
// the pod overrides). Once deleted it is no longer tried; if the delete
// fails it stays tried, so Rollback and the record still cover it.
func (a *Attachment) Drop(ctx context.Context, d Delegate) error {
	a.mu.Lock()
	rec := a.base
	if a.written != nil {
		rec = *a.written
	}
	a.mu.Unlock()
	if err := a.runner.DelDelegate(ctx, &rec, &d); err != nil {
		return err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := range a.tried {
		if sameDelegate(&a.tried[i], &d) {
			a.tried = append(a.tried[:i], a.tried[i+1:]...)
			break
		}
	}
	return nil
}

// Commit ends the transaction: Rollback does nothing after it.
func (a *Attachment) Commit() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.committed = true
}

// Rollback undoes every step unless Commit came first: it waits for a
// delegate still starting, deletes the tried delegates in reverse, and
// removes the record only when all of them were deleted. A delegate whose
// delete failed has its interface removed from the pod all the same; what
// else it holds (an address) stays in the record for the runtime's DEL.
func (a *Attachment) Rollback(ctx context.Context) error {
	a.inflight.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.committed || a.written == nil {
		return nil
	}
	rec := *a.written
	var errs []error
	for i := len(a.tried) - 1; i >= 0; i-- {
		d := &a.tried[i]
		if err := a.runner.DelDelegate(ctx, &rec, d); err != nil {
			errs = append(errs, fmt.Errorf("roll back: %w", err))
			if err := a.unplug(rec.NetNS, d.IfName); err != nil {
				errs = append(errs, fmt.Errorf("roll back network %s: %w", d.Network, err))
			}
		}
	}
	if len(errs) > 0 {
		// The record stays: it is how the runtime's DEL finds what is left.
		return errors.Join(errs...)
	}
	a.tried = nil
	if err := a.store.Remove(a.base.ContainerID); err != nil {
		return fmt.Errorf("roll back: %w", err)
	}
	a.written = nil
	return nil
}

func containsDelegate(list []Delegate, d *Delegate) bool {
	for i := range list {
		if sameDelegate(&list[i], d) {
			return true
		}
	}
	return false
}

// sameDelegate compares what DEL needs: the same config on the same interface.
func sameDelegate(a, b *Delegate) bool {
	return a.IfName == b.IfName && a.Network == b.Network && string(a.ConfList) == string(b.ConfList) &&
		reflect.DeepEqual(a.CapabilityArgs, b.CapabilityArgs)
}
