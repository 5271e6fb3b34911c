// Package routing is the logic of the host-route CNI plugin: it gives a pod
// on macvlan (or ipvlan) a path to its own host and to the host's Service
// rules, which the underlay alone cannot give it.
//
// Two modes exist. In veth mode each pod gets a veth pair to the host; in
// macvlan-bridge mode the host gets one shared macvlan sub-interface in
// bridge mode on the pod's master. Either way the pod routes the host IPs and
// the Service CIDRs to the host, the host routes each pod IP back, and a
// per-pod nftables table source-NATs the pod's Service traffic so that the
// backend's reply returns through the host's conntrack. Nothing host-wide is
// changed beyond what the README of cmd/host-route lists.
package routing
