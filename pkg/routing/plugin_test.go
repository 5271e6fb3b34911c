package routing

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestPrevResultPicksThePodInterfaceIPs(t *testing.T) {
	c, err := ParseConfig([]byte(`{"cniVersion":"1.1.0","name":"n","type":"host-route","prevResult":{"cniVersion":"1.1.0",
		"interfaces":[{"name":"eth0","sandbox":"/run/netns/p"},{"name":"net1","sandbox":"/run/netns/p"}],
		"ips":[{"address":"10.0.0.2/24","interface":0},{"address":"10.1.0.2/24","interface":1},{"address":"fd00::2/64","interface":0}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := prevResult(c, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[10.0.0.2 fd00::2]" {
		t.Errorf("pod IPs %v, want those of eth0 only", got)
	}
	c.Raw.RawPrevResult = nil
	if _, got, err := prevResult(c, "eth0"); got != nil || err != nil {
		t.Errorf("without prevResult: %v, %v", got, err)
	}
}

func TestCNIErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code uint
	}{
		{configErr("mode", "bad"), types.ErrInvalidNetworkConfig},
		{fmt.Errorf("add: %w", errNoPrevResult), types.ErrInvalidNetworkConfig},
		{&NetNSError{Path: "/x", Err: errors.New("gone")}, types.ErrInvalidEnvironmentVariables},
		{fmt.Errorf("take lock: %w", ErrLockTimeout), types.ErrTryAgainLater},
		{errors.New("netlink said no"), types.ErrInternal},
	} {
		if got := CNIError(tc.err).Code; got != tc.code {
			t.Errorf("CNIError(%v).Code = %d, want %d", tc.err, got, tc.code)
		}
	}
	if !strings.Contains(errNoPrevResult.Error(), "chained after a plugin that assigns IPs") {
		t.Errorf("missing prevResult message %q does not say how to fix it", errNoPrevResult)
	}
}
