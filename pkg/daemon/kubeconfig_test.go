package daemon

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

func TestKubeconfigNamesHostPathsAndTokenFileNotTheToken(t *testing.T) {
	f := newFixture(t)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	path := f.credPath("meta-cni.kubeconfig")
	raw := readFile(t, path)
	kc, err := clientcmd.Load([]byte(raw))
	if err != nil {
		t.Fatalf("load generated kubeconfig: %v", err)
	}
	ctx := kc.Contexts[kc.CurrentContext]
	if ctx == nil {
		t.Fatalf("current-context %q is not defined", kc.CurrentContext)
	}
	cluster, user := kc.Clusters[ctx.Cluster], kc.AuthInfos[ctx.AuthInfo]
	if cluster == nil || user == nil {
		t.Fatalf("context %q names cluster %q and user %q that are not defined", kc.CurrentContext, ctx.Cluster, ctx.AuthInfo)
	}
	checks := []struct{ field, got, want string }{
		{"server", cluster.Server, "https://10.96.0.1:443"},
		{"certificate-authority", cluster.CertificateAuthority, "/etc/cni/net.d/meta-cni.d/ca.crt"},
		{"tokenFile", user.TokenFile, "/etc/cni/net.d/meta-cni.d/token"},
		{"token", user.Token, ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.field, c.got, c.want)
		}
	}
	if strings.Contains(raw, "token-1") {
		t.Error("kubeconfig holds the token itself; it must only name the token file")
	}
	for name, want := range map[string]string{"token": "token-1", "ca.crt": "ca-pem"} {
		if got := readFile(t, f.credPath(name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"token", "ca.crt", "meta-cni.kubeconfig"} {
		assertMode(t, f.credPath(name), 0o600)
	}
}

func TestKubeconfigAuthenticatesWithTokenAndCA(t *testing.T) {
	var gotAuth string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"kind":"APIVersions","versions":["v1"]}`))
	}))
	t.Cleanup(srv.Close)
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	// With the host's view equal to the container's, the host paths in the
	// kubeconfig resolve here, as they do for the plugin on a real node.
	f := newFixture(t, func(c *Config) {
		c.HostCNIConfDir = c.CNIConfDir
		c.APIServer = srv.URL
	})
	writeFile(t, f.cfg.CAFile, string(caPEM), 0o644)
	if err := f.d.Install(); err != nil {
		t.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(f.cfg.CNIConfDir, "meta-cni.d", "meta-cni.kubeconfig"))
	if err != nil {
		t.Fatalf("client-go rejects the generated kubeconfig: %v", err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Get(srv.URL + "/api")
	if err != nil {
		t.Fatalf("GET /api with the generated kubeconfig: %v", err)
	}
	resp.Body.Close()
	if gotAuth != "Bearer token-1" {
		t.Errorf("Authorization = %q, want the installed token", gotAuth)
	}
}
