package main_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// serviceAccountToken is the bearer token of the plugin's kubeconfig.
func serviceAccountToken(t *testing.T, kubeconfig string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, ai := range cfg.AuthInfos {
		token := ai.Token
		if token == "" && ai.TokenFile != "" {
			b, err := os.ReadFile(ai.TokenFile)
			if err != nil {
				t.Fatal(err)
			}
			token = strings.TrimSpace(string(b))
		}
		if len(token) > 20 {
			return token
		}
	}
	t.Fatalf("kubeconfig %s holds no token", kubeconfig)
	return ""
}

// A pod's ADD and DEL at debug level, with an attachments dir a host left
// world-writable: the record is 0600 in a 0700 dir while the pod runs,
// and the ServiceAccount token appears in no log line, nor does a
// refused ADD repeat it.
func TestPluginKeepsRecordsPrivateAndTheTokenOutOfItsLog(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	attachments := filepath.Join(f.cacheDir, "attachments")
	if err := os.MkdirAll(attachments, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(attachments, 0o777); err != nil {
		t.Fatal(err)
	}
	token := serviceAccountToken(t, f.kubeconfig)
	list := f.metaConfList("1.0.0")
	sb := f.newPod("sec", map[string]string{"k8s.v1.cni.cncf.io/networks": "macvlan-a"})
	if _, err := f.node.Add(ctx, list, sb.rt); err != nil {
		t.Fatalf("ADD: %v", err)
	}
	for path, mode := range map[string]os.FileMode{
		filepath.Join(attachments, sb.rt.ContainerID+".json"): 0o600,
		attachments: 0o700,
	} {
		if m := testenv.Mode(t, path); m != mode {
			t.Errorf("%s: mode %o, want %o", path, m, mode)
		}
	}
	if m := testenv.Mode(t, f.cacheDir); m&0o022 != 0 {
		t.Errorf("cache dir %s: mode %o is writable by others", f.cacheDir, m)
	}
	bad := f.newPod("sec-bad", map[string]string{"k8s.v1.cni.cncf.io/networks": "no-such-nad"})
	_, err := f.node.Add(ctx, list, bad.rt)
	if err == nil {
		t.Fatal("ADD of a missing NAD succeeded")
	}
	if strings.Contains(err.Error(), token) {
		t.Error("the refused ADD's error holds the token")
	}
	if err := f.node.Del(ctx, list, sb.rt); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	f.assertClean(sb)
	logFile := filepath.Join(f.node.Dir, "meta-cni.log")
	log := testenv.ReadLog(t, logFile)
	if !strings.Contains(log, "level=DEBUG") {
		t.Fatalf("no debug line in %s, so it proves nothing:\n%s", logFile, log)
	}
	if strings.Contains(log, token) {
		t.Error("the ServiceAccount token appears in meta-cni's log")
	}
	if m := testenv.Mode(t, logFile); m != 0o600 {
		t.Errorf("%s: mode %o, want 0600", logFile, m)
	}
}

// namespaceIsolation through the built binary and the real API server:
// each trick is code 7 naming the pod, the network as written and the
// field, and leaves nothing behind (the unit table in pkg/metacni has
// every variant).
func TestNamespaceIsolationBypassAttemptsAreRefused(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	other := f.namespace + "-other"
	f.createNAD(other, "private", f.macvlanConfig("0.3.1", "192.168.96.0/24", "ens3"))
	f.metaExtra = map[string]any{"namespaceIsolation": true}
	list := f.metaConfList("1.0.0")
	for i, tc := range []struct{ value, network, field string }{
		{"../" + other + "/private", "../" + other + "/private", `field "name"`},
		{strings.ToUpper(other) + "/private", strings.ToUpper(other), `field "namespace"`},
		{`[{"name":"private","namespace":"` + f.namespace + `","namespace":"` + other + `"}]`, other + "/private", `field "namespace"`},
		{`[{"name":"private","Namespace":"` + other + `"}]`, other + "/private", `field "namespace"`},
		{other + "%2Fprivate", other + "%2Fprivate", `field "name"`},
	} {
		name := "bypass-" + string(rune('a'+i))
		sb := f.newPod(name, map[string]string{"k8s.v1.cni.cncf.io/networks": tc.value})
		_, err := f.node.Add(ctx, list, sb.rt)
		if err == nil {
			t.Fatalf("%s: ADD succeeded under namespaceIsolation", tc.value)
		}
		e := cniErr(t, err)
		if e.Code != types.ErrInvalidNetworkConfig {
			t.Errorf("%s: code %d, want 7", tc.value, e.Code)
		}
		for _, want := range []string{"pod " + f.namespace + "/" + name, tc.network, tc.field} {
			if !strings.Contains(e.Msg, want) {
				t.Errorf("%s: message %q does not name %s", tc.value, e.Msg, want)
			}
		}
		f.assertClean(sb)
	}
}
