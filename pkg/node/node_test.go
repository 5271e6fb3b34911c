package node

import (
	"os"
	"testing"
)

func TestNameComesFromTheEnvironmentAndNeverFromTheHostname(t *testing.T) {
	host, err := os.Hostname()
	if err != nil || host == "" {
		t.Fatalf("hostname %q: %v", host, err)
	}
	for _, tc := range []struct {
		name, nodeName, kubernetesNodeName, want string
	}{
		{name: "NODE_NAME", nodeName: "node-1", want: "node-1"},
		{name: "KUBERNETES_NODE_NAME when NODE_NAME is empty", kubernetesNodeName: "node-2", want: "node-2"},
		{name: "NODE_NAME wins over KUBERNETES_NODE_NAME", nodeName: "node-1", kubernetesNodeName: "node-2", want: "node-1"},
		{name: "nothing set is empty, not the hostname", want: ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("NODE_NAME", tc.nodeName)
			t.Setenv("KUBERNETES_NODE_NAME", tc.kubernetesNodeName)
			if got := Name(); got != tc.want {
				t.Errorf("Name() = %q, want %q (hostname %q)", got, tc.want, host)
			}
		})
	}
}
