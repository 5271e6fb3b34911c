package ipam

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/containernetworking/cni/pkg/types"
)

// This project's own CNI error codes; the README lists them.
const (
	// CodeRangeFull: every address of a range set is taken.
	CodeRangeFull uint = 100
	// CodeAddressOwned: a requested static address belongs to another container.
	CodeAddressOwned uint = 101
	// CodeAllocationMismatch: CHECK found an allocation that differs from prevResult.
	CodeAllocationMismatch uint = 102
)

// ConfigError is an invalid configuration; Field names the offending field
// as a user writes it, such as "ipam.ranges[1][0].rangeEnd".
type ConfigError struct {
	Field string
	Msg   string
}

func (e *ConfigError) Error() string { return e.Field + ": " + e.Msg }

func fieldErr(field, format string, args ...any) error {
	return &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// inField prefixes the field of a ConfigError with an outer path.
func inField(prefix string, err error) error {
	var ce *ConfigError
	if errors.As(err, &ce) {
		sep := "."
		if ce.Field == "" || strings.HasPrefix(ce.Field, "[") {
			sep = ""
		}
		return &ConfigError{Field: prefix + sep + ce.Field, Msg: ce.Msg}
	}
	return err
}

// UnavailableError is etcd not answering within the request timeout.
type UnavailableError struct {
	Endpoints []string
	Err       error
}

func (e *UnavailableError) Error() string {
	return fmt.Sprintf("etcd %s unavailable: %v", strings.Join(e.Endpoints, ","), e.Err)
}

func (e *UnavailableError) Unwrap() error { return e.Err }

// RejectedError is a request etcd refused as invalid, such as a
// transaction that names a key twice or holds more operations than
// --max-txn-ops allows. Sent again it fails again, so it is no "try again
// later": it is a bug, or an etcd limit below what the config needs.
type RejectedError struct{ Err *EtcdError }

func (e *RejectedError) Error() string {
	return fmt.Sprintf("etcd refused the request as invalid, and would refuse it again: %v", e.Err)
}

func (e *RejectedError) Unwrap() error { return e.Err }

// ContendedError is an operation that lost every race it ran; like an
// unreachable etcd, it is worth retrying later.
type ContendedError struct {
	What     string
	Attempts int
}

func (e *ContendedError) Error() string {
	return fmt.Sprintf("%s: still contended after %d attempts", e.What, e.Attempts)
}

// RangeFullError is a range set with no free address left.
type RangeFullError struct {
	RangeSet string
	Size     uint64
}

func (e *RangeFullError) Error() string {
	return fmt.Sprintf("no free address in range set %s: all %d allocatable addresses are taken", e.RangeSet, e.Size)
}

// OwnedError is a requested address held by another container.
type OwnedError struct {
	Addr  netip.Addr
	Owner Record
}

func (e *OwnedError) Error() string {
	o := e.Owner
	pod := "unknown pod"
	if o.PodName != "" {
		pod = "pod " + o.PodNamespace + "/" + o.PodName
	}
	return fmt.Sprintf("requested address %s is owned by %s (container %s, interface %s, node %s)", e.Addr, pod, o.ContainerID, o.IfName, o.Node)
}

// UnknownContainerError is a CHECK for a container with no allocation.
type UnknownContainerError struct{ ContainerID, IfName string }

func (e *UnknownContainerError) Error() string {
	return fmt.Sprintf("no allocation for container %s interface %s", e.ContainerID, e.IfName)
}

// MismatchError is a CHECK whose prevResult disagrees with etcd.
type MismatchError struct{ Msg string }

func (e *MismatchError) Error() string { return e.Msg }

// cniError maps an error to the CNI error the runtime sees.
func cniError(err error) *types.Error {
	if err == nil {
		return nil
	}
	var (
		te  *types.Error
		ce  *ConfigError
		ue  *UnavailableError
		re  *RejectedError
		cd  *ContendedError
		rf  *RangeFullError
		oe  *OwnedError
		uc  *UnknownContainerError
		me  *MismatchError
		msg = err.Error()
	)
	switch {
	case errors.As(err, &te):
		return te
	case errors.As(err, &ce):
		return types.NewError(types.ErrInvalidNetworkConfig, "invalid etcd-ipam config: "+ce.Error(), "")
	case errors.As(err, &re):
		return types.NewError(types.ErrInternal, msg, "")
	case errors.As(err, &ue), errors.As(err, &cd):
		return types.NewError(types.ErrTryAgainLater, msg, "")
	case errors.As(err, &rf):
		return types.NewError(CodeRangeFull, msg, "")
	case errors.As(err, &oe):
		return types.NewError(CodeAddressOwned, msg, "")
	case errors.As(err, &uc):
		return types.NewError(types.ErrUnknownContainer, msg, "")
	case errors.As(err, &me):
		return types.NewError(CodeAllocationMismatch, msg, "")
	}
	return types.NewError(types.ErrInternal, msg, "")
}
