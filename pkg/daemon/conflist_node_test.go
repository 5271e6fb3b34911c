package daemon

import "testing"

// etcd-ipam records and garbage-collects allocations under the node name
// meta-cni hands it, so the installed conflist must carry the Kubernetes
// node name, and none at all rather than a guess.
func TestInstalledConflistNamesTheKubernetesNode(t *testing.T) {
	for _, tc := range []struct {
		name, flag, env, want string
	}{
		{name: "from NODE_NAME, as the chart sets it", env: "node-7", want: "node-7"},
		{name: "Config.NodeName wins over NODE_NAME", flag: "node-8", env: "node-7", want: "node-8"},
		{name: "absent without either"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NODE_NAME", tc.env)
			t.Setenv("KUBERNETES_NODE_NAME", "")
			f := newFixture(t, func(c *Config) { c.NodeName = tc.flag })
			if err := f.d.Install(); err != nil {
				t.Fatalf("Install: %v", err)
			}
			got, ok := installedPlugin(t, f)["nodeName"]
			if tc.want == "" {
				if ok {
					t.Errorf("conflist nodeName = %v, want none", got)
				}
				return
			}
			if got != tc.want {
				t.Errorf("conflist nodeName = %v, want %s", got, tc.want)
			}
		})
	}
}
