package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// The daemon at debug level, on a host whose credential dirs are already
// there and world-writable: every credential it writes (token, CA,
// kubeconfig, etcd files, the node API's journal and socket) ends up 0600
// in a 0700 dir, and neither token (first nor rotated) nor the etcd key
// appears in its log.
func TestDaemonKeepsCredentialsPrivateAndOutOfItsLog(t *testing.T) {
	bin := filepath.Join(testenv.MustCNIPath(t), "meta-cni-daemon")
	n := newNode(t)
	const (
		token   = "eyJhbGciOiJSUzI1NiJ9.first-token-c2VjcmV0LXRva2Vu"
		rotated = "eyJhbGciOiJSUzI1NiJ9.rotated-token-cm90YXRlZA"
		etcdKey = "MHcCAQEEIBsecretEtcdKeyMaterialThatMustNeverBeLogged"
	)
	write := func(path, content string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	// The node API loads the CA for its upstream transport: a real one.
	ca, err := testenv.NewCA(filepath.Join(n.root, "pki"), "cluster-ca")
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(ca.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	write(n.ca, string(pem), 0o644)
	write(n.token, token, 0o600)
	write(filepath.Join(n.etcd, "tls.key"), "-----BEGIN EC PRIVATE KEY-----\n"+etcdKey+"\n-----END EC PRIVATE KEY-----\n", 0o600)
	credDir := filepath.Join(n.confDir, "meta-cni.d")
	for _, dir := range []string{credDir, filepath.Join(credDir, "etcd")} {
		if err := os.MkdirAll(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	runDir := filepath.Join(n.root, "run/meta-cni")
	socket := filepath.Join(runDir, "node-api.sock")
	addr := freeAddress(t)
	cmd, exited, stderr := startDaemon(t, bin, n.args("--log-level=debug", "--log-format=text", "--metrics-address="+addr,
		"--token-refresh-interval=50ms", "--node-api-socket="+socket, "--ipam-reconcile-interval=0")...)
	waitHTTP(t, "http://"+addr+"/readyz", exited, stderr)
	write(n.token, rotated, 0o600)
	deadline := time.Now().Add(10 * time.Second)
	for got, _ := os.ReadFile(filepath.Join(credDir, "token")); string(got) != rotated; got, _ = os.ReadFile(filepath.Join(credDir, "token")) {
		if time.Now().After(deadline) {
			t.Fatalf("rotated token not copied")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stopDaemon(t, cmd, exited, stderr)

	for path, mode := range map[string]os.FileMode{
		filepath.Join(credDir, "token"):               0o600,
		filepath.Join(credDir, "ca.crt"):              0o600,
		filepath.Join(credDir, "meta-cni.kubeconfig"): 0o600,
		filepath.Join(credDir, "etcd/tls.key"):        0o600,
		filepath.Join(credDir, "etcd/tls.crt"):        0o600,
		filepath.Join(credDir, "etcd/ca.crt"):         0o600,
		filepath.Join(credDir, "etcd/endpoints"):      0o600,
		credDir:                                       0o700,
		filepath.Join(credDir, "etcd"):                0o700,
		filepath.Join(runDir, "network-status"):       0o700,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Errorf("not there: %v", err)
		} else if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %o, want %o", path, fi.Mode().Perm(), mode)
		}
	}
	if fi, err := os.Stat(runDir); err != nil || fi.Mode().Perm()&0o002 != 0 {
		t.Errorf("socket dir %s: %v, %v; want not world-writable", runDir, fi.Mode(), err)
	}
	log := stderr.String()
	// The daemon has few debug lines; what matters is that the paths
	// handling the token and the key ran and logged.
	for _, want := range []string{`msg="token rotated"`, "msg=installed"} {
		if !strings.Contains(log, want) {
			t.Fatalf("the log lacks %s, so it proves nothing:\n%s", want, log)
		}
	}
	for name, secret := range map[string]string{"token": token, "rotated token": rotated, "etcd key": etcdKey} {
		if strings.Contains(log, secret) {
			t.Errorf("the %s appears in the daemon's log", name)
		}
	}
}
