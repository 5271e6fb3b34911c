package metacni

import (
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/annotations"
)

// bypassAttempt is a pod in team-a reaching for team-b/net-c under
// namespaceIsolation. The message must name the pod, the network as the
// pod wrote it, and the field at fault.
type bypassAttempt struct {
	name, annotation, value string
	network, field          string
}

var bypassAttempts = []bypassAttempt{
	{"plain", annotations.NetworksKey, "team-b/net-c", "team-b/net-c", `field "namespace"`},
	{"dot-dot", annotations.NetworksKey, "../team-b/net-c", "../team-b/net-c", `field "name"`},
	{"own namespace then dot-dot", annotations.NetworksKey, "team-a/../team-b/net-c", "team-a/../team-b/net-c", `field "name"`},
	{"escaped slash", annotations.NetworksKey, "team-b%2Fnet-c", "team-b%2Fnet-c", `field "name"`},
	{"upper case", annotations.NetworksKey, "Team-B/net-c", "Team-B", `field "namespace"`},
	{"unicode hyphen", annotations.NetworksKey, "team\u2010b/net-c", "team\u2010b", `field "namespace"`},
	{"cyrillic e", annotations.NetworksKey, "t\u0435am-b/net-c", "t\u0435am-b", `field "namespace"`},
	{"fullwidth solidus", annotations.NetworksKey, "team-b\uff0fnet-c", "team-b\uff0fnet-c", `field "name"`},
	{"leading space", annotations.NetworksKey, " team-b/net-c", "team-b/net-c", `field "namespace"`},
	{"json namespace", annotations.NetworksKey, `[{"name":"net-c","namespace":"team-b"}]`, "team-b/net-c", `field "namespace"`},
	{"json duplicate key, later wins", annotations.NetworksKey, `[{"namespace":"team-a","name":"net-c","namespace":"team-b"}]`, "team-b/net-c", `field "namespace"`},
	{"json key case", annotations.NetworksKey, `[{"name":"net-c","Namespace":"team-b"}]`, "team-b/net-c", `field "namespace"`},
	{"json key upper case", annotations.NetworksKey, `[{"name":"net-c","NAMESPACE":"team-b"}]`, "team-b/net-c", `field "namespace"`},
	{"json null after the namespace", annotations.NetworksKey, `[{"name":"net-c","namespace":"team-b","namespace":null}]`, "team-b/net-c", `field "namespace"`},
	{"json slash in the name", annotations.NetworksKey, `[{"name":"team-b/net-c"}]`, "team-b/net-c", `field "name"`},
	{"json dot-dot namespace", annotations.NetworksKey, `[{"name":"net-c","namespace":"../team-b"}]`, "../team-b", `field "namespace"`},
	{"json NUL in the namespace", annotations.NetworksKey, `[{"name":"net-c","namespace":"team-b\u0000"}]`, `team-b\x00`, `field "namespace"`},
	{"json namespace as a list", annotations.NetworksKey, `[{"name":"net-c","namespace":["team-b"]}]`, "entry 0", `field "namespace"`},
	{"json second entry", annotations.NetworksKey, `[{"name":"net-a"},{"name":"net-c","namespace":"team-b"}]`, "team-b/net-c", `field "namespace"`},
	{"default-network", annotations.DefaultNetworkKey, "team-b/net-c", "team-b/net-c", `field "namespace"`},
	{"default-network dot-dot", annotations.DefaultNetworkKey, "../team-b/net-c", "../team-b/net-c", `field "name"`},
	{"default-network json key case", annotations.DefaultNetworkKey, `{"name":"net-c","Namespace":"team-b"}`, "team-b/net-c", `field "namespace"`},
}

// Every attempt is refused as invalid config (7) before any NAD of team-b
// is read.
func TestNamespaceIsolationCannotBeBypassed(t *testing.T) {
	for _, tc := range bypassAttempts {
		t.Run(tc.name, func(t *testing.T) {
			fx := fixture{netconf: `"clusterNetwork":"cluster","namespaceIsolation":true`, podNS: "team-a",
				annotations: map[string]string{tc.annotation: tc.value}}
			ds, api, err := fx.resolve(t)
			if err == nil {
				t.Fatalf("resolved %+v, want refused", briefs(ds, ""))
			}
			e := cniError(podRef{Namespace: "team-a", Name: "pod1"}, err)
			if e.Code != types.ErrInvalidNetworkConfig {
				t.Errorf("code %d (%s), want 7", e.Code, e.Msg)
			}
			for _, want := range []string{"pod team-a/pod1", tc.network, tc.field} {
				if !strings.Contains(e.Msg, want) {
					t.Errorf("message %q does not name %s", e.Msg, want)
				}
			}
			for _, got := range api.gets {
				if strings.HasPrefix(got, "team-b/") {
					t.Errorf("read NAD %s of another namespace", got)
				}
			}
		})
	}
}

// Of two spellings of the key, encoding/json keeps the later, as Multus
// does; the namespace read is the one checked, so the later team-a wins
// and nothing of team-b is read.
func TestNamespaceIsolationChecksTheNamespaceThatIsRead(t *testing.T) {
	fx := fixture{netconf: `"clusterNetwork":"cluster","namespaceIsolation":true`, podNS: "team-a",
		annotations: map[string]string{annotations.NetworksKey: `[{"name":"net-b","namespace":"team-b","Namespace":"team-a"}]`}}
	ds, api, err := fx.resolve(t)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 2 || ds[1].Network != "team-a/net-b" {
		t.Fatalf("delegates %+v, want team-a/net-b on net1", briefs(ds, ""))
	}
	for _, got := range api.gets {
		if strings.HasPrefix(got, "team-b/") {
			t.Errorf("read NAD %s of another namespace", got)
		}
	}
}
