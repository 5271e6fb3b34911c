package delegate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// Runner runs delegates through libcni, with libcni's result cache under
// the meta-cni cache directory.
type Runner struct {
	CNI CNI
}

// NewRunner finds plugins in binDirs, in that order, and caches results
// under cacheDir. env ("KEY=value") is added to every plugin's environment,
// and to the plugins those call (an IPAM plugin inherits its caller's).
func NewRunner(binDirs []string, cacheDir string, env ...string) *Runner {
	var exec invoke.Exec
	if len(env) > 0 {
		exec = envExec{Exec: defaultExec(), env: env}
	}
	return &Runner{CNI: newLibCNI(binDirs, filepath.Join(cacheDir, "libcni"), exec)}
}

// Error is a delegate's failure, tagged with the network and interface.
type Error struct {
	Network string
	IfName  string
	Op      string
	Err     error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s network %s (%s): %v", e.Op, e.Network, e.IfName, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

func runtimeConf(r *Record, d *Delegate) *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID:    r.ContainerID,
		NetNS:          r.NetNS,
		IfName:         d.IfName,
		Args:           r.Args,
		CapabilityArgs: d.CapabilityArgs,
	}
}

// ConfList parses a delegate's conflist for libcni.
func (d *Delegate) confList() (*libcni.NetworkConfigList, error) {
	list, err := libcni.ConfListFromBytes(d.ConfList)
	if err != nil {
		return nil, &Error{Network: d.Network, IfName: d.IfName, Op: "parse", Err: err}
	}
	return list, nil
}

// AddDelegate runs ADD of one delegate of r and returns its result. It
// undoes nothing: a failed ADD may have done part of its work, so whoever
// called it must DEL the delegate (see Attachment).
func (rn *Runner) AddDelegate(ctx context.Context, r *Record, d *Delegate) (types.Result, error) {
	list, err := d.confList()
	if err != nil {
		return nil, err
	}
	rt := runtimeConf(r, d)
	rt.Args = append(append([][2]string{}, rt.Args...), d.AddArgs...)
	res, err := rn.CNI.AddNetworkList(ctx, list, rt)
	if err != nil {
		return nil, &Error{Network: d.Network, IfName: d.IfName, Op: "add", Err: err}
	}
	return res, nil
}

// DelDelegate runs DEL of every plugin of d's list in reverse, as libcni's
// DelNetworkList does, but goes on past a plugin that fails (a missing
// binary, say), so the plugins before it still release their link and
// address. The cached result stays until every plugin succeeded, so a
// retry still hands them prevResult.
func (rn *Runner) DelDelegate(ctx context.Context, r *Record, d *Delegate) error {
	list, err := d.confList()
	if err != nil {
		return &Error{Network: d.Network, IfName: d.IfName, Op: "delete", Err: err}
	}
	rt := runtimeConf(r, d)
	var prev types.Result
	// The spec gives DEL a prevResult from 0.4.0 on; an unreadable cache
	// means none, as in libcni.
	if ok, _ := version.GreaterThanOrEqualTo(list.CNIVersion, "0.4.0"); ok {
		if prev, err = rn.CNI.GetNetworkListCachedResult(list, rt); err != nil {
			prev = nil
		}
	}
	var errs []error
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		if err := rn.CNI.DelPlugin(ctx, list, i, prev, rt); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		if err := rn.CNI.ForgetResult(list, rt); err != nil {
			errs = append(errs, fmt.Errorf("remove cached result: %w", err))
		}
	}
	if len(errs) > 0 {
		return &Error{Network: d.Network, IfName: d.IfName, Op: "delete", Err: errors.Join(errs...)}
	}
	return nil
}

// Del deletes every delegate of r in reverse order. It goes on past
// failures, so one broken delegate does not strand the others, and returns
// every error joined.
func (rn *Runner) Del(ctx context.Context, r *Record) error {
	var errs []error
	for i := len(r.Delegates) - 1; i >= 0; i-- {
		if err := rn.DelDelegate(ctx, r, &r.Delegates[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Check runs CHECK on every delegate of r. Delegates configured below
// cniVersion 0.4.0 predate CHECK and are skipped, as the spec requires.
func (rn *Runner) Check(ctx context.Context, r *Record) error {
	for k := range r.Delegates {
		d := &r.Delegates[k]
		list, err := d.confList()
		if err != nil {
			return err
		}
		if ok, _ := version.GreaterThanOrEqualTo(list.CNIVersion, "0.4.0"); !ok {
			continue
		}
		if err := rn.CNI.CheckNetworkList(ctx, list, runtimeConf(r, d)); err != nil {
			return &Error{Network: d.Network, IfName: d.IfName, Op: "check", Err: err}
		}
	}
	return nil
}

// Status asks every delegate whether it is ready.
func (rn *Runner) Status(ctx context.Context, delegates []Delegate) error {
	for k := range delegates {
		d := &delegates[k]
		list, err := d.confList()
		if err != nil {
			return err
		}
		if err := rn.CNI.GetStatusNetworkList(ctx, list); err != nil {
			return &Error{Network: d.Network, IfName: d.IfName, Op: "status", Err: err}
		}
	}
	return nil
}

// GC forwards garbage collection to every distinct network in delegates.
// valid lists, per network name, the attachments that are still in use;
// libcni deletes the cached attachments of that network that are not in it
// and then sends the plugins GC with the same list.
func (rn *Runner) GC(ctx context.Context, delegates []Delegate, valid map[string][]types.GCAttachment) error {
	seen := map[string]bool{}
	var errs []error
	for k := range delegates {
		d := &delegates[k]
		key := d.Name + "\x00" + string(d.ConfList)
		if seen[key] {
			continue
		}
		seen[key] = true
		list, err := d.confList()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		args := &libcni.GCArgs{ValidAttachments: valid[d.Name]}
		if err := rn.CNI.GCNetworkList(ctx, list, args); err != nil {
			errs = append(errs, &Error{Network: d.Network, IfName: d.IfName, Op: "gc", Err: err})
		}
	}
	return errors.Join(errs...)
}
