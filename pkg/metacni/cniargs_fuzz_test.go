package metacni

import (
	"errors"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

// FuzzParseCNIArgs: the runtime's CNI_ARGS read back as the pairs it
// joined, in order; the pod named is the last namespace and name given,
// and only names that are safe in an API path are taken.
func FuzzParseCNIArgs(f *testing.F) {
	for _, s := range []string{
		"", "IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web-1;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1",
		";;", "FOO=a=b", "K8S_POD_NAME=p", "K8S_POD_NAMESPACE=a;K8S_POD_NAMESPACE=b;K8S_POD_NAME=p",
		"K8S_POD_NAMESPACE=../kube-system;K8S_POD_NAME=p", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p?x=y", "junk",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		pairs, pod, err := parseCNIArgs(s)
		if err != nil {
			var aerr *argsError
			if !errors.As(err, &aerr) || pairs != nil || pod != (podRef{}) || !strings.HasPrefix(err.Error(), "CNI_ARGS") {
				t.Fatalf("parseCNIArgs(%q) = %v, %+v, %v; want only an argsError naming CNI_ARGS", s, pairs, pod, err)
			}
			return
		}
		var joined []string
		want := podRef{}
		for _, p := range pairs {
			joined = append(joined, p[0]+"="+p[1])
			switch p[0] {
			case "K8S_POD_NAMESPACE":
				want.Namespace = p[1]
			case "K8S_POD_NAME":
				want.Name = p[1]
			case "K8S_POD_UID":
				want.UID = p[1]
			}
		}
		var nonEmpty []string
		for _, e := range strings.Split(s, ";") {
			if e != "" {
				nonEmpty = append(nonEmpty, e)
			}
		}
		if strings.Join(joined, ";") != strings.Join(nonEmpty, ";") {
			t.Fatalf("parseCNIArgs(%q) = %v, which does not join back", s, pairs)
		}
		if pod != want {
			t.Fatalf("parseCNIArgs(%q) pod %+v, want %+v", s, pod, want)
		}
		if pod.Name == "" {
			return
		}
		if len(validation.IsDNS1123Label(pod.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(pod.Name)) > 0 {
			t.Fatalf("parseCNIArgs(%q) took pod %s/%s", s, pod.Namespace, pod.Name)
		}
	})
}
