package delegate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// newTx starts an attachment of threeNetworks' container on a fake CNI and
// a store in a temp dir.
func newTx(t *testing.T, f *fakeCNI) (*Attachment, RecordStore, *Record) {
	t.Helper()
	store := RecordStore{Dir: filepath.Join(t.TempDir(), "attachments")}
	r := threeNetworks()
	tx := NewAttachment(store, &Runner{CNI: f}, r)
	tx.unplug = func(string, string) error { return nil } // no real netns here
	return tx, store, r
}

// addAllTx writes the record and adds every delegate, stopping at a failure.
func addAllTx(t *testing.T, tx *Attachment, ds []Delegate) error {
	t.Helper()
	if err := tx.Write(ds); err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		if _, err := tx.Add(context.Background(), d); err != nil {
			return err
		}
	}
	return nil
}

func ifNames(ds []Delegate) []string {
	out := []string{}
	for _, d := range ds {
		out = append(out, d.IfName)
	}
	return out
}

func TestAttachmentRollbackDeletesTriedDelegatesInReverseAndRemovesTheRecord(t *testing.T) {
	boom := errors.New("boom")
	f := &fakeCNI{fail: map[string]error{"ADD net1": boom}}
	tx, store, r := newTx(t, f)
	tx.unplug = func(netns, ifName string) error {
		t.Errorf("unplug(%s, %s): every DEL succeeded, so the delegates removed their own interfaces", netns, ifName)
		return nil
	}
	err := addAllTx(t, tx, r.Delegates)
	checkDelegateError(t, err, "add", "ns1/net-a", "net1", boom)
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatalf("Rollback = %v", err)
	}
	// net2 never started, so it needs no DEL; net1 may have done part of its work.
	if want := []string{"ADD cluster/eth0", "ADD net-a/net1", "DEL net-a/net1", "DEL cluster/eth0"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
	if _, err := store.Read("c1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record after a complete rollback: %v, want none", err)
	}
}

func TestAttachmentRollbackThatFailsKeepsTheRecordForTheRuntimesDel(t *testing.T) {
	addErr, delErr := errors.New("add failed"), errors.New("del failed")
	f := &fakeCNI{fail: map[string]error{"ADD net2": addErr, "DEL net1": delErr}}
	tx, store, r := newTx(t, f)
	var unplugged []string
	tx.unplug = func(netns, ifName string) error {
		unplugged = append(unplugged, netns+" "+ifName)
		return nil
	}
	if err := addAllTx(t, tx, r.Delegates); !errors.Is(err, addErr) {
		t.Fatalf("ADD = %v, want %v", err, addErr)
	}
	err := tx.Rollback(context.Background())
	if !errors.Is(err, delErr) || !strings.Contains(err.Error(), "roll back: delete network ns1/net-a (net1): del failed") {
		t.Fatalf("Rollback = %v, want the failed DEL named", err)
	}
	// The pod loses the interface whose DEL failed at once; only the
	// record remembers what that DEL still owes.
	if want := []string{r.NetNS + " net1"}; !reflect.DeepEqual(unplugged, want) {
		t.Fatalf("unplugged %v, want %v", unplugged, want)
	}
	if want := []string{"DEL net-b/net2", "DEL net-a/net1", "DEL cluster/eth0"}; !reflect.DeepEqual(f.sequence()[3:], want) {
		t.Fatalf("rollback calls = %v\nwant %v: every delegate, past the failure", f.sequence()[3:], want)
	}
	kept, err := store.Read("c1")
	if err != nil {
		t.Fatalf("record after a failed rollback: %v, want it kept", err)
	}
	if got := ifNames(kept.Delegates); !reflect.DeepEqual(got, []string{"eth0", "net1", "net2"}) {
		t.Fatalf("kept record holds %v", got)
	}
	// The runtime's DEL, from the record alone, now finishes the job.
	f.fail, f.calls = nil, nil
	if err := (&Runner{CNI: f}).Del(context.Background(), kept); err != nil {
		t.Fatal(err)
	}
	if want := []string{"DEL net-b/net2", "DEL net-a/net1", "DEL cluster/eth0"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("DEL calls = %v\nwant %v", f.sequence(), want)
	}
}

func TestAttachmentCommitMakesRollbackANoOp(t *testing.T) {
	f := &fakeCNI{}
	tx, store, r := newTx(t, f)
	if err := addAllTx(t, tx, r.Delegates); err != nil {
		t.Fatal(err)
	}
	tx.Commit()
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(f.calls) != 3 {
		t.Fatalf("calls = %v, want the three ADDs only", f.sequence())
	}
	if _, err := store.Read("c1"); err != nil {
		t.Fatalf("record of a committed ADD: %v", err)
	}
}

func TestAttachmentRollbackBeforeAnyWriteDoesNothing(t *testing.T) {
	f := &fakeCNI{}
	tx, _, _ := newTx(t, f)
	if err := tx.Rollback(context.Background()); err != nil || len(f.calls) != 0 {
		t.Fatalf("Rollback = %v after %v, want nothing done", err, f.sequence())
	}
}

func TestAttachmentAddRefusesADelegateTheRecordDoesNotHold(t *testing.T) {
	f := &fakeCNI{}
	tx, _, r := newTx(t, f)
	if err := tx.Write(r.Delegates[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Add(context.Background(), r.Delegates[1]); err == nil || !strings.Contains(err.Error(), "record does not hold it") {
		t.Fatalf("Add = %v, want a refusal", err)
	}
	if len(f.calls) != 0 {
		t.Fatalf("calls = %v, want none", f.sequence())
	}
}

func TestAttachmentDroppedDelegateLeavesTheRecordAndTheRollback(t *testing.T) {
	f := &fakeCNI{fail: map[string]error{"ADD net1": errors.New("boom")}}
	tx, store, r := newTx(t, f)
	early := r.Delegates[0]
	if err := tx.Write([]Delegate{early}); err != nil {
		t.Fatal(err)
	}
	wait := tx.Start(context.Background(), early)
	if _, err := wait(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Drop(context.Background(), early); err != nil {
		t.Fatal(err)
	}
	override := testDelegate("override", "eth0", "1.0.0")
	if err := addAllTx(t, tx, []Delegate{override, r.Delegates[1]}); err == nil {
		t.Fatal("ADD of net1 succeeded")
	}
	rec, err := store.Read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if got := []string{rec.Delegates[0].Name, rec.Delegates[1].Name}; len(rec.Delegates) != 2 || !reflect.DeepEqual(got, []string{"override", "net-a"}) {
		t.Fatalf("record holds %+v, want override and net-a only", rec.Delegates)
	}
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{"ADD cluster/eth0", "DEL cluster/eth0", "ADD override/eth0", "ADD net-a/net1", "DEL net-a/net1", "DEL override/eth0"}
	if !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
}

func TestAttachmentDelegateWhoseDropFailedStaysInTheRecordAndTheRollback(t *testing.T) {
	f := &fakeCNI{fail: map[string]error{"DEL eth0": errors.New("stuck")}}
	tx, store, r := newTx(t, f)
	early := r.Delegates[0]
	if err := tx.Write([]Delegate{early}); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Start(context.Background(), early)(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Drop(context.Background(), early); err == nil {
		t.Fatal("Drop succeeded although DEL failed")
	}
	// Were the ADD to go on, its record would still name the stuck delegate.
	if err := tx.Write(r.Delegates[1:]); err != nil {
		t.Fatal(err)
	}
	rec, err := store.Read("c1")
	if err != nil {
		t.Fatal(err)
	}
	if got := ifNames(rec.Delegates); !reflect.DeepEqual(got, []string{"eth0", "net1", "net2"}) {
		t.Fatalf("record holds %v, want the stuck eth0 first", got)
	}
	if err := tx.Rollback(context.Background()); err == nil {
		t.Fatal("Rollback succeeded although DEL of eth0 still fails")
	}
	if _, err := store.Read("c1"); err != nil {
		t.Fatalf("record after a failed rollback: %v", err)
	}
}

func TestAttachmentRollbackWaitsForADelegateStillStarting(t *testing.T) {
	f := &fakeCNI{}
	tx, store, r := newTx(t, f)
	if err := tx.Write(r.Delegates[:1]); err != nil {
		t.Fatal(err)
	}
	tx.Start(context.Background(), r.Delegates[0])
	// The ADD fails elsewhere before anyone waited on the cluster network.
	if err := tx.Rollback(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := []string{"ADD cluster/eth0", "DEL cluster/eth0"}; !reflect.DeepEqual(f.sequence(), want) {
		t.Fatalf("calls = %v\nwant %v", f.sequence(), want)
	}
	if _, err := store.Read("c1"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("record: %v, want none", err)
	}
}
