package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nadclient "github.com/k8snetworkplumbingwg/network-attachment-definition-client/pkg/client/clientset/versioned"
	authv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// KubeAPIServerBinary builds kube-apiserver from hack/tools/kube-apiserver
// (cached; the first build takes minutes) and returns its path.
func KubeAPIServerBinary() (string, error) {
	return kubeBinary("kube-apiserver")
}

// Kube is a local control plane: a real etcd and a real kube-apiserver,
// with no controllers and no kubelet. Tests play the kubelet.
type Kube struct {
	URL        string
	CAFile     string
	AdminToken string
	Etcd       *EtcdCluster

	dir  string
	bin  string
	args []string
	server
}

// StartKube starts etcd and kube-apiserver in dir and installs the
// NetworkAttachmentDefinition CRD from the NAD client module. Call Stop when
// done.
func StartKube(dir string) (*Kube, error) {
	return startKube(dir, true, false)
}

// StartBareKube is StartKube without the NAD CRD, for tests that install it
// themselves (the Helm chart does).
func StartBareKube(dir string) (*Kube, error) {
	return startKube(dir, false, false)
}

// StartNodeKube is StartBareKube for a cluster with real kubelets and a
// kube-controller-manager (internal/testenv/realnode): the ServiceAccount
// admission plugin is on, so pods get their token volume as on a real
// cluster. extraArgs go after the usual flags, so they override them.
func StartNodeKube(dir string, extraArgs ...string) (*Kube, error) {
	return startKube(dir, false, true, extraArgs...)
}

func startKube(dir string, withCRD, serviceAccounts bool, extraArgs ...string) (*Kube, error) {
	bin, err := KubeAPIServerBinary()
	if err != nil {
		return nil, err
	}
	etcd, err := StartEtcdCluster(filepath.Join(dir, "etcd"), 1, nil)
	if err != nil {
		return nil, err
	}
	k := &Kube{Etcd: etcd, dir: dir, bin: bin, AdminToken: randomToken(), server: server{logFile: filepath.Join(dir, "kube-apiserver.log")}}
	if err := k.configure(serviceAccounts); err != nil {
		etcd.Stop()
		return nil, err
	}
	k.args = append(k.args, extraArgs...)
	if err := k.Start(); err != nil {
		etcd.Stop()
		return nil, err
	}
	if withCRD {
		if err := k.InstallNADCRD(); err != nil {
			k.Stop()
			return nil, err
		}
	}
	return k, nil
}

// StartKubeT is StartKube for tests, stopped at cleanup.
func StartKubeT(t testing.TB) *Kube {
	t.Helper()
	k, err := StartKube(t.TempDir())
	if err != nil {
		t.Fatalf("start kube-apiserver: %v", err)
	}
	t.Cleanup(k.Stop)
	return k
}

// KubeServiceIP is the ClusterIP of the "kubernetes" Service: the first
// address of the service range below.
const KubeServiceIP = "10.96.0.1"

func (k *Kube) configure(serviceAccounts bool) error {
	pki := filepath.Join(k.dir, "pki")
	ca, err := NewCA(pki, "kube-ca")
	if err != nil {
		return err
	}
	k.CAFile = ca.CertFile
	// KubeServiceIP too, as a real API server's certificate has: pods and
	// hostNetwork daemons reach it there (realnode relays that address).
	cert, key, err := ca.Issue("kube-apiserver", nil, []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP(KubeServiceIP)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return err
	}
	saKey, saPub, err := writeSAKeys(pki)
	if err != nil {
		return err
	}
	tokens := filepath.Join(pki, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(k.AdminToken+",admin,admin-uid,system:masters\n"), 0o600); err != nil {
		return err
	}
	port, err := FreePort()
	if err != nil {
		return err
	}
	k.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	k.args = []string{
		"--etcd-servers=" + strings.Join(k.Etcd.Endpoints(), ","),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", port),
		"--tls-cert-file=" + cert,
		"--tls-private-key-file=" + key,
		"--client-ca-file=" + ca.CertFile,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=10.96.0.0/12",
		"--enable-priority-and-fairness=false",
		"--cert-dir=" + filepath.Join(k.dir, "certs"),
		"--profiling=false",
		"--endpoint-reconciler-type=none",
		"--v=0",
	}
	if !serviceAccounts {
		// No controller-manager creates default ServiceAccounts here.
		k.args = append(k.args, "--disable-admission-plugins=ServiceAccount")
	}
	return nil
}

func writeSAKeys(dir string) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	pder, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return "", "", err
	}
	keyFile, pubFile := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return "", "", err
	}
	return keyFile, pubFile, os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
}

func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// Start runs kube-apiserver and waits until it is ready; after Stop it
// starts again with the same address and data.
func (k *Kube) Start() error {
	if err := k.start(k.bin, k.args); err != nil {
		return err
	}
	return k.waitReady(90 * time.Second)
}

// StopAPIServer stops only kube-apiserver, leaving etcd up.
func (k *Kube) StopAPIServer() { k.stop() }

// Stop stops kube-apiserver and etcd.
func (k *Kube) Stop() {
	k.StopAPIServer()
	k.Etcd.Stop()
}

func (k *Kube) waitReady(timeout time.Duration) error {
	hc, err := rest.HTTPClientFor(k.AdminConfig())
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-k.exited:
			return fmt.Errorf("kube-apiserver exited; log %s:\n%s", k.logFile, tail(k.logFile))
		default:
		}
		resp, err := hc.Get(k.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("kube-apiserver not ready after %s; log:\n%s", timeout, tail(k.logFile))
}

// AdminConfig is a rest.Config with cluster-admin rights.
func (k *Kube) AdminConfig() *rest.Config {
	return &rest.Config{Host: k.URL, BearerToken: k.AdminToken, TLSClientConfig: rest.TLSClientConfig{CAFile: k.CAFile},
		QPS: 1000, Burst: 1000}
}

// Clientset is a full client with cluster-admin rights, for test setup.
func (k *Kube) Clientset() kubernetes.Interface {
	return kubernetes.NewForConfigOrDie(k.AdminConfig())
}

// NADClientset is the NetworkAttachmentDefinition client with admin rights.
func (k *Kube) NADClientset() nadclient.Interface {
	return nadclient.NewForConfigOrDie(k.AdminConfig())
}

// NADCRDFile is the CRD manifest shipped in the pinned NAD client module.
func NADCRDFile() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/k8snetworkplumbingwg/network-attachment-definition-client").Output()
	if err != nil {
		return "", fmt.Errorf("locate the NAD client module: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(out)), "artifacts", "networks-crd.yaml"), nil
}

// InstallNADCRD creates the NetworkAttachmentDefinition CRD and waits until
// it is served.
func (k *Kube) InstallNADCRD() error {
	file, err := NADCRDFile()
	if err != nil {
		return err
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	body, err := yaml.YAMLToJSON([]byte(strings.TrimPrefix(string(data), "---\n")))
	if err != nil {
		return fmt.Errorf("convert %s: %w", file, err)
	}
	hc, err := rest.HTTPClientFor(k.AdminConfig())
	if err != nil {
		return err
	}
	resp, err := hc.Post(k.URL+"/apis/apiextensions.k8s.io/v1/customresourcedefinitions", "application/json", strings.NewReader(string(body)))
	if err != nil {
		return fmt.Errorf("create NAD CRD: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusConflict {
		return fmt.Errorf("create NAD CRD: status %d", resp.StatusCode)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		_, err := k.NADClientset().K8sCniCncfIoV1().NetworkAttachmentDefinitions("default").List(context.Background(), metav1.ListOptions{})
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("NAD CRD not served after 30s")
}

// ChartRBACRules are the ClusterRole rules the Helm chart grants meta-cni.
func ChartRBACRules() ([]rbacv1.PolicyRule, error) {
	data, err := os.ReadFile(filepath.Join(RepoRoot(), "charts", "meta-cni", "files", "rbac-rules.yaml"))
	if err != nil {
		return nil, err
	}
	var rules []rbacv1.PolicyRule
	if err := yaml.Unmarshal(data, &rules); err != nil {
		return nil, fmt.Errorf("parse chart RBAC rules: %w", err)
	}
	return rules, nil
}

// ServiceAccountKubeconfig creates a ServiceAccount bound to a ClusterRole
// with rules, gets it a token, and writes a kubeconfig for it into dir.
func (k *Kube) ServiceAccountKubeconfig(dir, namespace, name string, rules []rbacv1.PolicyRule) (string, error) {
	ctx := context.Background()
	cs := k.Clientset()
	if err := k.EnsureNamespace(namespace); err != nil {
		return "", err
	}
	if _, err := cs.CoreV1().ServiceAccounts(namespace).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create ServiceAccount %s/%s: %w", namespace, name, err)
	}
	role := namespace + "-" + name
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: role}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create ClusterRole %s: %w", role, err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: name, Namespace: namespace}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		return "", fmt.Errorf("create ClusterRoleBinding %s: %w", role, err)
	}
	expiry := int64(24 * 3600)
	tr, err := cs.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name, &authv1.TokenRequest{Spec: authv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("request token for %s/%s: %w", namespace, name, err)
	}
	path := filepath.Join(dir, name+".kubeconfig")
	kubeconfig := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    token: %s
contexts:
- name: local
  context: {cluster: local, user: %s}
current-context: local
`, k.URL, k.CAFile, name, tr.Status.Token, name)
	return path, os.WriteFile(path, []byte(kubeconfig), 0o600)
}

// EnsureNamespace creates a namespace unless it exists.
func (k *Kube) EnsureNamespace(name string) error {
	_, err := k.Clientset().CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// ServiceAccountKeyFile is the key the API server signs ServiceAccount
// tokens with; kube-controller-manager needs it too.
func (k *Kube) ServiceAccountKeyFile() string { return filepath.Join(k.dir, "pki", "sa.key") }
