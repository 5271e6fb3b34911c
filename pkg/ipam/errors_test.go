package ipam

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestErrorsMapToTheirCNICodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code uint
	}{
		{fieldErr("ipam.subnet", "bad"), types.ErrInvalidNetworkConfig},
		{fmt.Errorf("load: %w", fieldErr("ipam.etcd.keyFile", "missing")), types.ErrInvalidNetworkConfig},
		{&UnavailableError{Endpoints: []string{"http://127.0.0.1:1"}, Err: context.DeadlineExceeded}, types.ErrTryAgainLater},
		{&ContendedError{What: "allocate", Attempts: 64}, types.ErrTryAgainLater},
		{&RangeFullError{RangeSet: "10.0.0.1-10.0.0.9 in 10.0.0.0/24", Size: 9}, CodeRangeFull},
		{&OwnedError{Addr: netip.MustParseAddr("10.0.0.5"), Owner: Record{ContainerID: "c"}}, CodeAddressOwned},
		{&UnknownContainerError{ContainerID: "c", IfName: "net1"}, types.ErrUnknownContainer},
		{&MismatchError{Msg: "differs"}, CodeAllocationMismatch},
		{types.NewError(50, "down", ""), 50},
		{fmt.Errorf("something else"), types.ErrInternal},
	} {
		if got := cniError(tc.err); got.Code != tc.code {
			t.Errorf("cniError(%v) = code %d, want %d", tc.err, got.Code, tc.code)
		}
	}
	if wrap(nil) != nil {
		t.Error("wrap(nil) is not a nil error")
	}
}

func TestConfigErrorMessageNamesTheField(t *testing.T) {
	err := inField("ipam.ranges[2]", fieldErr("[0].rangeEnd", "10.0.1.300 is not an IP address"))
	want := "invalid etcd-ipam config: ipam.ranges[2][0].rangeEnd: 10.0.1.300 is not an IP address"
	if got := cniError(err).Msg; got != want {
		t.Fatalf("message %q, want %q", got, want)
	}
}
