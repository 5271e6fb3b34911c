package daemon

import (
	"sigs.k8s.io/yaml"
)

// kubeconfig is the subset of the kubeconfig format the plugin needs.
type kubeconfig struct {
	APIVersion     string         `json:"apiVersion"`
	Kind           string         `json:"kind"`
	Clusters       []namedCluster `json:"clusters"`
	Users          []namedUser    `json:"users"`
	Contexts       []namedContext `json:"contexts"`
	CurrentContext string         `json:"current-context"`
}

type namedCluster struct {
	Name    string `json:"name"`
	Cluster struct {
		Server               string `json:"server"`
		CertificateAuthority string `json:"certificate-authority"`
	} `json:"cluster"`
}

type namedUser struct {
	Name string `json:"name"`
	User struct {
		// TokenFile, not an inline token: client-go rereads it, so the
		// plugin picks up each rotation the daemon writes.
		TokenFile string `json:"tokenFile"`
	} `json:"user"`
}

type namedContext struct {
	Name    string `json:"name"`
	Context struct {
		Cluster string `json:"cluster"`
		User    string `json:"user"`
	} `json:"context"`
}

// renderKubeconfig returns a kubeconfig for server whose CA and token are
// read from the given paths, which must be paths as the host sees them.
func renderKubeconfig(server, caFile, tokenFile string) ([]byte, error) {
	c := namedCluster{Name: "meta-cni"}
	c.Cluster.Server = server
	c.Cluster.CertificateAuthority = caFile
	u := namedUser{Name: "meta-cni"}
	u.User.TokenFile = tokenFile
	x := namedContext{Name: "meta-cni"}
	x.Context.Cluster, x.Context.User = c.Name, u.Name
	return yaml.Marshal(kubeconfig{
		APIVersion:     "v1",
		Kind:           "Config",
		Clusters:       []namedCluster{c},
		Users:          []namedUser{u},
		Contexts:       []namedContext{x},
		CurrentContext: x.Name,
	})
}
