package metacni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/config"
	"github.com/meta-cni/meta-cni/pkg/delegate"
)

// GC deletes every recorded container that the runtime no longer lists in
// cni.dev/valid-attachments, then forwards GC to each delegate network with
// the attachments that remain valid.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	inv, err := p.begin(args)
	if err != nil {
		return cniError(podRef{}, err)
	}
	defer inv.closer()
	if err := p.gc(context.Background(), inv); err != nil {
		inv.log.Error("GC failed", "err", err)
		return cniError(podRef{}, err)
	}
	return nil
}

func (p *Plugin) gc(ctx context.Context, inv *invocation) error {
	valid, err := validAttachments(inv.args.StdinData)
	if err != nil {
		return err
	}
	store := inv.store()
	records, listErr := store.List()
	runner := p.runner(inv.conf, inv.args)
	var errs []error
	if listErr != nil {
		errs = append(errs, &ioError{listErr})
	}
	var kept []*delegate.Record
	for _, rec := range records {
		if valid[types.GCAttachment{ContainerID: rec.ContainerID, IfName: rec.IfName}] {
			kept = append(kept, rec)
			continue
		}
		inv.log.Info("GC: deleting stale attachment", "stale", rec.ContainerID, "pod", rec.Pod())
		if err := runner.Del(ctx, rec); err != nil {
			errs = append(errs, err)
			kept = append(kept, rec)
			continue
		}
		if err := store.Remove(rec.ContainerID); err != nil {
			errs = append(errs, &ioError{err})
		}
	}
	// Each delegate network learns which of its attachments are still live.
	var delegates []delegate.Delegate
	validByNet := map[string][]types.GCAttachment{}
	for _, rec := range kept {
		for _, d := range rec.Delegates {
			delegates = append(delegates, d)
			validByNet[d.Name] = append(validByNet[d.Name], types.GCAttachment{ContainerID: rec.ContainerID, IfName: d.IfName})
		}
	}
	res := &resolver{conf: inv.conf, confs: &confDir{dir: inv.conf.ConfDir}}
	if cluster, err := res.resolve(ctx, "eth0"); err == nil {
		delegates = append(delegates, cluster...)
	}
	if err := runner.GC(ctx, delegates, validByNet); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// validAttachmentsKey is the GC config key libcni writes the runtime's
// live attachments under (CNI spec 1.1).
const validAttachmentsKey = "cni.dev/valid-attachments"

// validAttachments reads the attachments a GC must keep from its stdin, by
// the exact key libcni writes. A null list keeps none: libcni sends null
// for a runtime with no live attachment. A missing key is refused: read as
// "none is valid", it would delete the networks of every pod on the node.
func validAttachments(stdin []byte) (map[types.GCAttachment]bool, error) {
	bad := func(reason string) error {
		return &config.FieldError{Field: validAttachmentsKey, Reason: reason}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(stdin, &top); err != nil || top == nil {
		return nil, bad("the GC config is not a JSON object")
	}
	raw, ok := top[validAttachmentsKey]
	if !ok {
		return nil, bad("missing: a GC must list the attachments to keep (an empty list keeps none)")
	}
	var list []types.GCAttachment
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, bad(fmt.Sprintf("must be a list of {containerID, ifname} objects: %v", err))
	}
	valid := make(map[types.GCAttachment]bool, len(list))
	for _, a := range list {
		valid[a] = true
	}
	return valid, nil
}
