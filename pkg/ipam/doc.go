// Package ipam is the etcd-ipam plugin: cluster-wide address allocation kept
// in etcd, with the same address configuration as host-local.
//
// It has three layers:
//   - range math, pure: addr.go, range.go, range_set.go (allocatable spans
//     and the windows a search walks), key.go (fixed-width keys, so key
//     order is address order) and cursor.go;
//   - the store: store.go and release.go, one guarded etcd transaction per
//     change, over the small KV interface of kv.go, which gateway.go serves
//     from etcd's JSON gateway (package etcdv3 serves it over gRPC for
//     long-lived callers); claim.go keeps goroutines of one process from
//     racing each other;
//   - the plugin: config*.go, etcd.go and tls.go (connection and TLS
//     errors that name the field), plugin.go (the CNI verbs and their error
//     codes) and inspect.go (`etcd-ipam pool`).
package ipam
