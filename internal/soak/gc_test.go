package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/plugins/pkg/ns"
)

// runtimeGC is the runtime's CNI GC on n (containerd 2 runs one at its
// start): libcni's GCNetworkList of the runtime's conflist with the
// node's live sandboxes as cni.dev/valid-attachments. libcni first DELs
// every attachment its result cache holds that is not valid, then, from
// cniVersion 1.1.0 on, sends the GC verb; cniVersion, when set, stands in
// for the conflist's, as a user on containerd 2 sets the chart's
// cni.cniVersion. Every scenario deletes its pods before it returns, so
// pods are the node's only sandboxes.
func runtimeGC(n *node, pods []*podRun, cniVersion string) error {
	list, err := n.runtimeConflist()
	if err != nil {
		return err
	}
	if cniVersion != "" {
		if list, err = withCNIVersion(list, cniVersion); err != nil {
			return fmt.Errorf("node %s: %w", n.name, err)
		}
	}
	var valid []types.GCAttachment
	for _, p := range pods {
		if p.node == n && p.live {
			valid = append(valid, types.GCAttachment{ContainerID: p.rt.ContainerID, IfName: p.rt.IfName})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	return n.netns().Do(func(ns.NetNS) error {
		if err := n.cni().GCNetworkList(ctx, list, &libcni.GCArgs{ValidAttachments: valid}); err != nil {
			return fmt.Errorf("node %s: GC of network %s (cniVersion %s): %w", n.name, list.Name, list.CNIVersion, err)
		}
		return nil
	})
}

// clusterGC is runtimeGC on every node, at cniVersion 1.1.0 so the GC
// verb is sent too.
func clusterGC(c *cluster, pods []*podRun) error {
	var errs []error
	for _, n := range c.nodes {
		errs = append(errs, runtimeGC(n, pods, "1.1.0"))
	}
	return errors.Join(errs...)
}

func withCNIVersion(list *libcni.NetworkConfigList, version string) (*libcni.NetworkConfigList, error) {
	var raw map[string]any
	if err := json.Unmarshal(list.Bytes, &raw); err != nil {
		return nil, fmt.Errorf("conflist %s: %w", list.Name, err)
	}
	raw["cniVersion"] = version
	b, err := json.Marshal(raw)
	if err != nil {
		return nil, err
	}
	return libcni.ConfListFromBytes(b)
}
