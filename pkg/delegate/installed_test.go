package delegate

import (
	"errors"
	"testing"
)

func TestInstalledNamesTheFirstPluginOrIPAMNoBinDirHolds(t *testing.T) {
	conf := `{"cniVersion":"1.0.0","name":"net-a","plugins":[
  {"type":"macvlan","master":"eth1","ipam":{"type":"etcd-ipam"}},
  {"type":"host-route"}]}`
	cases := []struct {
		have      []string
		field, tp string
	}{
		{[]string{"macvlan", "etcd-ipam", "host-route"}, "", ""},
		{[]string{"macvlan", "etcd-ipam"}, "plugins[1].type", "host-route"},
		{[]string{"macvlan", "host-route"}, "plugins[0].ipam.type", "etcd-ipam"},
		{nil, "plugins[0].type", "macvlan"},
	}
	for _, c := range cases {
		rn := &Runner{CNI: newLibCNI([]string{"/opt/cni/bin"}, t.TempDir(), &fakeExec{have: c.have})}
		err := rn.Installed(&Delegate{Network: "ns/net-a", IfName: "net1", ConfList: []byte(conf)})
		var ni *NotInstalledError
		switch {
		case c.field == "" && err != nil:
			t.Errorf("have %v: %v, want nil", c.have, err)
		case c.field != "" && (!errors.As(err, &ni) || ni.Field != c.field || ni.Type != c.tp || ni.Network != "ns/net-a"):
			t.Errorf("have %v: %v, want %s %q not installed", c.have, err, c.field, c.tp)
		}
	}
}

// A CNI that cannot look plugins up (a test's fake) has them all.
func TestInstalledTrustsACNIWithoutPluginLookup(t *testing.T) {
	rn := &Runner{CNI: nil}
	if err := rn.Installed(&Delegate{ConfList: []byte(`{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x"}]}`)}); err != nil {
		t.Errorf("%v", err)
	}
}
