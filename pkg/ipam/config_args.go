package ipam

import "strings"

// parseCNIArgs splits CNI_ARGS ("K=V;K=V").
func parseCNIArgs(s string) (map[string]string, error) {
	out := map[string]string{}
	if s == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ";") {
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, fieldErr("CNI_ARGS", "%q is not KEY=VALUE", pair)
		}
		out[k] = v
	}
	return out, nil
}
