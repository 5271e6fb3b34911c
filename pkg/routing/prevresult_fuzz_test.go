package routing

import (
	"encoding/json"
	"errors"
	"testing"
)

// FuzzPrevResult feeds host-route the prevResult a chain hands it (from
// macvlan and its IPAM, or a runtime's cache): every address it routes is
// an address of the result, not one the result gives another named
// interface, and a broken prevResult is a config error naming prevResult.
func FuzzPrevResult(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.1.0","interfaces":[{"name":"eth0"}],"ips":[{"address":"10.0.0.2/24","interface":0},{"address":"fd00::2/64","interface":5}]}`,
		`{"cniVersion":"1.0.0","interfaces":[{"name":"net1","sandbox":"/p"},{"name":"veth0"}],"ips":[{"address":"10.0.0.2/24","interface":1},{"address":"10.0.0.3/24","interface":0},{"address":"10.0.0.4/24"}]}`,
		`{"cniVersion":"0.3.1","ips":[{"version":"4","address":"10.0.0.2/24","interface":-1}]}`,
		`{"cniVersion":"0.2.0","ip4":{"ip":"10.0.0.2/24"}}`,
		`{"cniVersion":"1.0.0","ips":[{"address":"::ffff:10.0.0.2/120"}]}`,
		`{"cniVersion":"9.9.9"}`,
		`{"cniVersion":"1.0.0","ips":[null]}`,
		`"x"`,
	} {
		f.Add([]byte(s), "net1")
	}
	f.Fuzz(func(t *testing.T, prev []byte, ifName string) {
		if !json.Valid(prev) {
			return // stdin that is not JSON never gets this far
		}
		stdin, err := json.Marshal(map[string]any{"cniVersion": "1.1.0", "name": "n", "type": "host-route", "prevResult": json.RawMessage(prev)})
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(stdin)
		if err != nil {
			return
		}
		res, ips, err := prevResult(c, ifName)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != "prevResult" {
				t.Fatalf("prevResult error %v is not a prevResult ConfigError", err)
			}
			return
		}
		if res == nil {
			if len(ips) != 0 {
				t.Fatalf("addresses %v without a result", ips)
			}
			return
		}
		for _, ip := range ips {
			found := false
			for _, ipc := range res.IPs {
				if ipc == nil || !ipc.Address.IP.Equal(ip) {
					continue
				}
				if i := ipc.Interface; i != nil && *i >= 0 && *i < len(res.Interfaces) && res.Interfaces[*i].Name != ifName {
					continue
				}
				found = true
			}
			if !found {
				t.Fatalf("routes %s, which the result does not give %q", ip, ifName)
			}
			if v4 := ip.To4(); v4 != nil && len(ip) != 4 {
				t.Fatalf("IPv4 address %s not normalised to 4 bytes", ip)
			}
		}
	})
}
