package testenv

// CNIPath builds the reference plugins inside this module, so go.sum must
// hold the modules they need. Nothing else in the module imports these
// packages, and `go mod tidy` would drop those entries without this file.
import (
	_ "github.com/containernetworking/plugins/pkg/ip"                               // macvlan, ipvlan, ptp, bridge
	_ "github.com/containernetworking/plugins/pkg/link"                             // bridge's spoof check
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local/backend/disk" // host-local's store
	_ "github.com/mattn/go-shellwords"                                              // portmap
)
