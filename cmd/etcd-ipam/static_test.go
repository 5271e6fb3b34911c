package main

import (
	"strings"
	"testing"

	"github.com/meta-cni/meta-cni/internal/testenv"
)

// A requested address outside the range or inside an exclusion is refused
// with code 7, whichever way it is asked for, as host-local refuses an
// out-of-range one, and nothing is written. The config can opt in.
func TestStaticAddressOutsideTheRangeIsRefusedUnlessTheConfigOptsIn(t *testing.T) {
	r := newRig(t, testenv.StartEtcdClusterRetry(t, 1, nil))
	base := map[string]any{"subnet": "10.0.0.0/24", "rangeStart": "10.0.0.10", "rangeEnd": "10.0.0.50", "exclude": []string{"10.0.0.40/29"}}
	conf := r.conf("1.0.0", base)
	for _, tc := range []struct {
		name, args string
		conf       []byte
		want       []string
	}{
		{"CNI_ARGS IP outside the range", "IP=10.0.0.99", conf,
			[]string{"CNI_ARGS IP", "10.0.0.99", "outside every range", "10.0.0.10-10.0.0.50 in 10.0.0.0/24", "staticAnywhereInSubnet"}},
		{"runtimeConfig.ips in the exclusion", "", withField(t, conf, "runtimeConfig", map[string]any{"ips": []string{"10.0.0.42/24"}}),
			[]string{"runtimeConfig.ips[0]", "10.0.0.42", "ipam.exclude[0] (10.0.0.40/29)"}},
		{"args.cni.ips outside the range", "", withField(t, conf, "args", map[string]any{"cni": map[string]any{"ips": []string{"10.0.0.5"}}}),
			[]string{"args.cni.ips[0]", "10.0.0.5", "outside every range"}},
	} {
		_, err := r.exec("ADD", "refused", tc.args, tc.conf)
		code, msg := cniCode(t, err)
		if code != 7 {
			t.Errorf("%s: code %d (%s), want 7", tc.name, code, msg)
		}
		for _, w := range tc.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: message %q does not name %q", tc.name, msg, w)
			}
		}
	}
	if left := r.keys("/"); len(left) != 0 {
		t.Fatalf("refused ADDs wrote %v", left)
	}
	base["staticAnywhereInSubnet"] = true
	optIn := r.conf("1.0.0", base)
	for cid, ip := range map[string]string{"out": "10.0.0.99", "ex": "10.0.0.42"} {
		if got := ips(t, "1.0.0", r.mustExec("ADD", cid, "IP="+ip, optIn)); len(got) != 1 || got[0] != ip+"/24" {
			t.Errorf("opted-in ADD of %s got %v", ip, got)
		}
	}
}
