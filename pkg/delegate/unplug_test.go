package delegate

import (
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

func TestUnplugRemovesTheInterfaceAndToleratesWhatIsGone(t *testing.T) {
	testenv.RequireRoot(t)
	pod := testenv.NewNS(t)
	err := pod.Do(func(ns.NetNS) error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "net1"}, PeerName: "peer1"})
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := Unplug(pod.Path(), "net1"); err != nil {
		t.Fatalf("Unplug = %v", err)
	}
	links, err := testenv.Links(pod)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l == "net1" || l == "peer1" {
			t.Errorf("netns still has %s after Unplug: %v", l, links)
		}
	}
	// Twice, and in a netns that is gone: nothing to do, no error.
	if err := Unplug(pod.Path(), "net1"); err != nil {
		t.Errorf("second Unplug = %v", err)
	}
	path := pod.Path()
	testenv.RemoveNS(pod)
	if err := Unplug(path, "net1"); err != nil {
		t.Errorf("Unplug in a removed netns = %v", err)
	}
}
