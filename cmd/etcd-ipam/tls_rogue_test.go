package main

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// An etcd whose server certificate another CA signed is refused before any
// request: the message names the endpoint and the certificate problem, the
// field to fix is the trusted CA, and the rogue server holds no key. The
// rogue server would accept the plugin's client certificate, so only the
// plugin's own check of the server stands in the way.
func TestRefusesAnEtcdServerCertificateTheCADidNotSign(t *testing.T) {
	p := newPKI(t)
	cert, key, err := p.other.Issue("rogue-etcd", nil, []net.IP{net.IPv4(127, 0, 0, 1)}, []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	rogue := testenv.StartEtcdClusterRetry(t, 1, &testenv.EtcdTLS{CertFile: cert, KeyFile: key, ClientCA: p.ca.CertFile})
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil)) // the plugin talks to the rogue one
	ep := rogue.Endpoints()[0]
	for _, tc := range []struct {
		name, field string
		ipam        map[string]any
	}{
		{"the etcd block", "ipam.etcd.trustedCAFile", map[string]any{"etcd": map[string]any{"endpoints": []string{ep}, "prefix": r.prefix,
			"certFile": p.clientCert, "keyFile": p.clientKey, "trustedCAFile": p.ca.CertFile, "requestTimeout": "2s", "dialTimeout": "1s"}}},
		{"the older etcdConfig block", "ipam.etcdConfig.etcdTrustedCAFileFile", map[string]any{"etcdConfig": map[string]any{"etcdURL": ep,
			"etcdCertFile": p.clientCert, "etcdKeyFile": p.clientKey, "etcdTrustedCAFileFile": p.ca.CertFile}}},
		{"no CA file: the system's roots", "ipam.etcd.trustedCAFile", map[string]any{"etcd": map[string]any{"endpoints": []string{ep}, "prefix": r.prefix,
			"certFile": p.clientCert, "keyFile": p.clientKey, "requestTimeout": "2s", "dialTimeout": "1s"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ipam := map[string]any{"subnet": "10.0.0.0/24"}
			for k, v := range tc.ipam {
				ipam[k] = v
			}
			_, err := r.exec("ADD", "rogue1", "", r.conf("1.0.0", ipam))
			code, msg := cniCode(t, err)
			if code != 7 {
				t.Fatalf("code %d (%s), want 7", code, msg)
			}
			for _, want := range []string{ep, tc.field, "certificate signed by unknown authority"} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
		})
	}
	if n := rogueKeys(t, rogue, p); n != 0 {
		t.Errorf("the rogue etcd holds %d keys, want none", n)
	}
}

// rogueKeys counts every key of the rogue etcd, read by a client that
// trusts the rogue CA.
func rogueKeys(t *testing.T, rogue *testenv.EtcdCluster, p pki) int64 {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(p.other.CertFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	cli, err := clientv3.New(clientv3.Config{Endpoints: rogue.Endpoints(), DialTimeout: 5 * time.Second,
		TLS: &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := ctxTimeout(10 * time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "\x00", clientv3.WithFromKey(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("read the rogue etcd: %v", err)
	}
	return resp.Count
}
