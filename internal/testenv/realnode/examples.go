package realnode

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// ExamplesValues is the chart values file examples/ is written against;
// with Options.Examples, InstallChart installs with it.
const ExamplesValues = "examples/values-underlay.yaml"

// examplesClusterNetwork is the cluster network's name in ExamplesValues
// (config.clusterNetwork, and its readinessIndicatorFile 10-cbr0.conflist).
const examplesClusterNetwork = "cbr0"

// examplesPKI is the IPAM etcd's mTLS as ExamplesValues expects it: a CA,
// the server's pair (valid on loopback, where the nodes' relays dial, and
// on UnderlayEtcdIP), and the client pair the chart's Secret carries.
type examplesPKI struct {
	ca                    *testenv.CA
	serverCert, serverKey string
	clientCert, clientKey string
}

func newExamplesPKI(dir string) (*examplesPKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create etcd pki dir: %w", err)
	}
	ca, err := testenv.NewCA(dir, "ipam-etcd-ca")
	if err != nil {
		return nil, fmt.Errorf("create etcd CA: %w", err)
	}
	p := &examplesPKI{ca: ca}
	ips := []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(UnderlayEtcdIP)}
	if p.serverCert, p.serverKey, err = ca.Issue("ipam-etcd", nil, ips, []string{"localhost"}); err != nil {
		return nil, fmt.Errorf("issue etcd server certificate: %w", err)
	}
	if p.clientCert, p.clientKey, err = ca.Issue("meta-cni", nil, nil, nil); err != nil {
		return nil, fmt.Errorf("issue etcd client certificate: %w", err)
	}
	return p, nil
}

// clientTLS is a client's view of the etcd: the CA and the client pair.
func (p *examplesPKI) clientTLS() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(p.clientCert, p.clientKey)
	if err != nil {
		return nil, fmt.Errorf("load etcd client certificate: %w", err)
	}
	pem, err := os.ReadFile(p.ca.CertFile)
	if err != nil {
		return nil, fmt.Errorf("read etcd CA: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// startIPAMEtcd starts etcd-ipam's etcd: over mTLS with Options.Examples,
// plain otherwise.
func (c *Cluster) startIPAMEtcd() error {
	dir := filepath.Join(c.Dir, "ipam-etcd")
	var serve *testenv.EtcdTLS
	if c.Examples {
		var err error
		if c.examples, err = newExamplesPKI(filepath.Join(c.Dir, "ipam-etcd-pki")); err != nil {
			return err
		}
		if c.IPAMTLS, err = c.examples.clientTLS(); err != nil {
			return err
		}
		serve = &testenv.EtcdTLS{CertFile: c.examples.serverCert, KeyFile: c.examples.serverKey, ClientCA: c.examples.ca.CertFile}
	}
	var err error
	if c.IPAMEtcd, err = testenv.StartEtcdCluster(dir, 1, serve); err != nil {
		return fmt.Errorf("start etcd-ipam's etcd: %w", err)
	}
	return nil
}

func (c *Cluster) clusterNetwork() string {
	if c.Examples {
		return examplesClusterNetwork
	}
	return "cluster"
}

// chartValues are InstallChart's arguments for the cluster's kind: with
// Options.Examples, ExamplesValues and the etcd Secret's files it asks for
// (--set-file, as its header says); its etcd.endpoints, UnderlayEtcdIP,
// is served as is. Otherwise the IPAM etcd's loopback endpoints.
func (c *Cluster) chartValues() []string {
	if !c.Examples {
		return []string{"--set", "etcd.endpoints={" + strings.Join(c.IPAMEtcd.Endpoints(), ",") + "}"}
	}
	return []string{"-f", filepath.Join(testenv.RepoRoot(), ExamplesValues),
		"--set-file", "etcd.tls.ca=" + c.examples.ca.CertFile,
		"--set-file", "etcd.tls.cert=" + c.examples.clientCert,
		"--set-file", "etcd.tls.key=" + c.examples.clientKey}
}

// IPAMEtcdFiles are the CA and the client pair of IPAMEtcd, as the chart's
// Secret holds them; empty without Options.Examples.
func (c *Cluster) IPAMEtcdFiles() (ca, cert, key string) {
	if c.examples == nil {
		return "", "", ""
	}
	return c.examples.ca.CertFile, c.examples.clientCert, c.examples.clientKey
}
