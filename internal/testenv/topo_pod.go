package testenv

import (
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/plugins/pkg/ns"
)

// Pod is a container sandbox as a runtime sees it: a netns, removed when
// the test ends, and the identity it gives CNI.
type Pod struct {
	NS          ns.NetNS
	ContainerID string
	IfName      string
}

// NewPod makes a pod netns with loopback up.
func NewPod(t testing.TB, containerID, ifName string) *Pod {
	t.Helper()
	return &Pod{NS: NewPodNS(t), ContainerID: containerID, IfName: ifName}
}

// RuntimeConf is what the runtime passes libcni for this pod.
func (p *Pod) RuntimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{ContainerID: p.ContainerID, NetNS: p.NS.Path(), IfName: p.IfName}
}
