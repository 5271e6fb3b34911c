package delegate

import (
	"slices"
	"testing"

	"github.com/containernetworking/cni/libcni"
)

// typesOf are the plugin types of a list, in order.
func typesOf(list *libcni.NetworkConfigList) []string {
	var out []string
	for _, p := range list.Plugins {
		out = append(out, p.Network.Type)
	}
	return out
}

// Configs whose keys differ from libcni's only in case, or repeat, run what
// libcni reads: an exact "plugins" key, the last of repeated keys, and per
// plugin its "type" however other spellings are placed.
func TestPluginsAreWhatLibcniRuns(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"a conflist", `{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"macvlan"},{"type":"host-route"}]}`, []string{"macvlan", "host-route"}},
		{"a single conf", `{"cniVersion":"0.3.1","name":"n","type":"macvlan","ipam":{"type":"etcd-ipam"}}`, []string{"macvlan"}},
		{"Plugins is not a list key", `{"name":"n","Plugins":[{"type":"meta-cni"}],"type":"bridge"}`, []string{"bridge"}},
		{"plugins beside Plugins", `{"name":"n","plugins":[{"type":"bridge"}],"Plugins":[{"type":"meta-cni"}]}`, []string{"bridge"}},
		{"Plugins before plugins", `{"name":"n","Plugins":[{"type":"meta-cni"}],"plugins":[{"type":"bridge"}]}`, []string{"bridge"}},
		{"the last of two plugins keys", `{"name":"n","plugins":[{"type":"meta-cni"}],"plugins":[{"type":"bridge"}]}`, []string{"bridge"}},
		// libcni re-encodes each plugin with sorted keys before its struct
		// decode, so the lower-case key, sorting last, wins wherever it is.
		{"a plugin's Type after its type", `{"name":"n","plugins":[{"type":"bridge","Type":"meta-cni"}]}`, []string{"bridge"}},
		{"a plugin's type after its TYPE", `{"name":"n","plugins":[{"TYPE":"meta-cni","type":"bridge"}]}`, []string{"bridge"}},
		{"the last of two type keys", `{"name":"n","plugins":[{"type":"meta-cni","type":"bridge"}]}`, []string{"bridge"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list, err := Plugins("ns/net", "net", []byte(tc.config), "1.0.0")
			if err != nil {
				t.Fatal(err)
			}
			if got := typesOf(list); !slices.Equal(got, tc.want) {
				t.Errorf("Plugins runs %q, want %q", got, tc.want)
			}
			// A conflist is handed to libcni as it is: the same bytes
			// straight to libcni must give the same plugins.
			if direct, err := libcni.ConfListFromBytes([]byte(tc.config)); err == nil && len(direct.Plugins) > 0 {
				if got := typesOf(direct); !slices.Equal(got, tc.want) {
					t.Errorf("libcni reads %q from the same bytes, Plugins %q", got, tc.want)
				}
			}
		})
	}
}

// A config Build refuses runs nothing, so Plugins refuses it with Build's
// field.
func TestPluginsRefusesWhatBuildRefuses(t *testing.T) {
	for config, field := range map[string]string{
		`{"name":"n","Plugins":[{"type":"bridge"}]}`: "type",
		`{"name":"n","plugins":[{"Type":"bridge"}]}`: "plugins[0].type",
		`{"name":"n","plugins":{}}`:                  "plugins",
		`[]`:                                         "config",
	} {
		_, err := Plugins("ns/net", "net", []byte(config), "1.0.0")
		be, ok := err.(*BuildError)
		if !ok || be.Field != field || be.Network != "ns/net" {
			t.Errorf("Plugins(%s) = %v, want a BuildError on ns/net field %q", config, err, field)
		}
	}
}

// What libcni would refuse on every ADD is refused by Build as invalid
// config naming the field (found by FuzzConfDir: a single conf whose name
// is a number was built, then failed each ADD as a delegate failure).
func TestBuildRefusesWhatLibcniWouldRefuse(t *testing.T) {
	for config, field := range map[string]string{
		`{"name":5,"type":"bridge"}`:                                   "plugins[0]",
		`{"name":"n","plugins":[{"type":"bridge","capabilities":[]}]}`: "plugins[0]",
		`{"name":"n","disableCheck":"maybe","plugins":[{"type":"a"}]}`: "config",
	} {
		_, err := Build("ns/net", "net", "net1", []byte(config), "1.0.0", Request{})
		be, ok := err.(*BuildError)
		if !ok || be.Field != field || be.Network != "ns/net" {
			t.Errorf("Build(%s) = %v, want a BuildError on ns/net field %q", config, err, field)
		}
	}
}
