package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// keyLines are the base64 lines of a PEM private key: what would show if
// the key leaked into a message or a log.
func keyLines(t *testing.T, keyFile string) []string {
	t.Helper()
	b, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			out = append(out, l)
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s holds no key lines", keyFile)
	}
	return out
}

// etcd-ipam at debug level over mutual TLS, on the happy path and on the
// refused ones (a key of another certificate, a server it does not trust):
// no line of either private key reaches its log file, its stdout or its
// error messages.
func TestEtcdKeysAppearInNoLogAndNoMessage(t *testing.T) {
	p := newPKI(t)
	c := startTLSEtcd(t, p)
	r := newRig(t, c)
	logFile := filepath.Join(t.TempDir(), "etcd-ipam.log")
	etcd := func(keyFile, caFile string) map[string]any {
		return map[string]any{"endpoints": c.Endpoints(), "prefix": r.prefix, "requestTimeout": "2s", "dialTimeout": "1s",
			"certFile": p.clientCert, "keyFile": keyFile, "trustedCAFile": caFile}
	}
	conf := func(keyFile, caFile string) []byte {
		return r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "logFile": logFile, "logLevel": "debug", "etcd": etcd(keyFile, caFile)})
	}
	var seen []string
	out := r.mustExec("ADD", "sec1", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=sec", conf(p.clientKey, p.ca.CertFile))
	seen = append(seen, string(out))
	for _, bad := range [][]byte{conf(p.otherClientKey, p.ca.CertFile), conf(p.clientKey, p.other.CertFile)} {
		out, err := r.exec("ADD", "sec2", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=sec2", bad)
		if err == nil {
			t.Fatal("ADD with a wrong key or CA succeeded")
		}
		_, msg := cniCode(t, err)
		seen = append(seen, string(out), msg)
	}
	seen = append(seen, string(r.mustExec("DEL", "sec1", "", conf(p.clientKey, p.ca.CertFile))))
	b, err := os.ReadFile(logFile)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	if !strings.Contains(log, "msg=allocated plugin=etcd-ipam containerID=sec1") {
		t.Fatalf("the log lacks the ADD, so it proves nothing:\n%s", log)
	}
	seen = append(seen, log)
	for _, key := range []string{p.clientKey, p.otherClientKey} {
		for _, line := range keyLines(t, key) {
			for _, s := range seen {
				if strings.Contains(s, line) {
					t.Fatalf("a line of %s appears in:\n%s", key, s)
				}
			}
		}
	}
}
