package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

type pki struct {
	ca, other                  *testenv.CA
	clientCert, clientKey      string
	otherClientKey, notPEMFile string
}

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	ca, err := testenv.NewCA(filepath.Join(dir, "ca"), "etcd-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := testenv.NewCA(filepath.Join(dir, "other"), "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	p := pki{ca: ca, other: other}
	if p.clientCert, p.clientKey, err = ca.Issue("etcd-ipam", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	if _, p.otherClientKey, err = other.Issue("intruder", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	p.notPEMFile = filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(p.notPEMFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func startTLSEtcd(t *testing.T, p pki) *testenv.EtcdCluster {
	t.Helper()
	cert, key, err := p.ca.Issue("etcd-server", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	return testenv.StartEtcdClusterRetry(t, 1, &testenv.EtcdTLS{CertFile: cert, KeyFile: key, ClientCA: p.ca.CertFile})
}

func TestMutualTLSWithCertificatesMadeInTheTest(t *testing.T) {
	p := newPKI(t)
	c := startTLSEtcd(t, p)
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil)) // r.cli only lists keys; the plugin talks to c
	ep := c.Endpoints()
	etcd := func(fields map[string]any) map[string]any {
		m := map[string]any{"endpoints": ep, "prefix": r.prefix, "requestTimeout": "2s", "dialTimeout": "1s"}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	good := map[string]any{"certFile": p.clientCert, "keyFile": p.clientKey, "trustedCAFile": p.ca.CertFile}

	t.Run("the etcd block", func(t *testing.T) {
		conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "etcd": etcd(good)})
		if got := ips(t, "1.0.0", r.mustExec("ADD", "tls1", "", conf)); len(got) != 1 {
			t.Fatalf("ADD over mTLS: %v", got)
		}
		r.mustExec("DEL", "tls1", "", conf)
	})
	t.Run("the older etcdConfig block", func(t *testing.T) {
		conf := r.conf("0.3.1", map[string]any{"subnet": "10.0.0.0/24", "etcdConfig": map[string]any{
			"etcdURL": strings.Join(ep, ","), "etcdCertFile": p.clientCert, "etcdKeyFile": p.clientKey, "etcdTrustedCAFileFile": p.ca.CertFile,
		}})
		if got := ips(t, "0.3.1", r.mustExec("ADD", "tls2", "", conf)); len(got) != 1 {
			t.Fatalf("ADD over mTLS with etcdConfig: %v", got)
		}
		r.mustExec("DEL", "tls2", "", conf)
	})

	for _, tc := range []struct {
		name   string
		ipam   map[string]any
		code   uint
		fields []string // each must appear in the message
	}{
		{"wrong CA", map[string]any{"etcd": etcd(map[string]any{"certFile": p.clientCert, "keyFile": p.clientKey, "trustedCAFile": p.other.CertFile})},
			7, []string{"ipam.etcd.trustedCAFile", "does not trust", "unknown authority"}},
		{"wrong CA in the older block", map[string]any{"etcdConfig": map[string]any{"etcdURL": ep[0], "etcdCertFile": p.clientCert, "etcdKeyFile": p.clientKey, "etcdTrustedCAFileFile": p.other.CertFile}},
			7, []string{"ipam.etcdConfig.etcdTrustedCAFileFile", "unknown authority"}},
		{"missing key", map[string]any{"etcd": etcd(map[string]any{"certFile": p.clientCert, "trustedCAFile": p.ca.CertFile})},
			7, []string{"ipam.etcd.keyFile", "missing"}},
		{"key file that does not exist", map[string]any{"etcd": etcd(map[string]any{"certFile": p.clientCert, "keyFile": p.clientKey + ".gone", "trustedCAFile": p.ca.CertFile})},
			7, []string{"ipam.etcd.keyFile", "no such file"}},
		{"key of another certificate", map[string]any{"etcd": etcd(map[string]any{"certFile": p.clientCert, "keyFile": p.otherClientKey, "trustedCAFile": p.ca.CertFile})},
			7, []string{"ipam.etcd.certFile", "does not match"}},
		{"no client certificate", map[string]any{"etcd": etcd(map[string]any{"trustedCAFile": p.ca.CertFile})},
			7, []string{"ipam.etcd.certFile", "requires a client certificate"}},
		{"CA file that is not PEM", map[string]any{"etcd": etcd(map[string]any{"certFile": p.clientCert, "keyFile": p.clientKey, "trustedCAFile": p.notPEMFile})},
			7, []string{"ipam.etcd.trustedCAFile", "no PEM certificate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ipam := map[string]any{"subnet": "10.0.0.0/24"}
			for k, v := range tc.ipam {
				ipam[k] = v
			}
			start := time.Now()
			_, err := r.exec("ADD", "bad-tls", "", r.conf("1.0.0", ipam))
			// A certificate problem is found directly, not after the 2 s
			// (5 s for etcdConfig) request timeout.
			if took := time.Since(start); took > 1500*time.Millisecond {
				t.Errorf("the error took %s", took)
			}
			code, msg := cniCode(t, err)
			if code != tc.code {
				t.Fatalf("code %d (%s), want %d", code, msg, tc.code)
			}
			for _, f := range tc.fields {
				if !strings.Contains(msg, f) {
					t.Errorf("message %q lacks %q", msg, f)
				}
			}
		})
	}
}

func TestEndpointsComeFromAFile(t *testing.T) {
	c := testenv.StartEtcdClusterRetry(t, 1, nil)
	r := newRig(t, c)
	file := filepath.Join(t.TempDir(), "endpoints")
	if err := os.WriteFile(file, []byte("  "+strings.Join(c.Endpoints(), ",\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "etcd": map[string]any{"endpointsFile": file, "prefix": r.prefix}})
	r.mustExec("ADD", "f1", "", conf)
	if n := len(r.keys("/owners/f1/")); n != 1 {
		t.Fatalf("ADD with endpoints from a file wrote %d owner keys", n)
	}
	missing := r.conf("1.0.0", map[string]any{"subnet": "10.0.0.0/24", "etcd": map[string]any{"endpointsFile": file + ".gone"}})
	_, err := r.exec("ADD", "f2", "", missing)
	if code, msg := cniCode(t, err); code != 7 || !strings.Contains(msg, "ipam.etcd.endpointsFile") {
		t.Fatalf("missing endpoints file: code %d %q", code, msg)
	}
}
