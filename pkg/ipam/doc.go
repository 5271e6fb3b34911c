// Package ipam is the etcd-ipam plugin: cluster-wide address allocation kept
// in etcd, with the same address configuration as host-local.
//
// It has three layers. The range layer (range.go, range_set.go, span.go,
// key.go) is pure math on addresses. The store (store.go, etcd.go) runs one
// guarded etcd transaction per allocation. The plugin (plugin.go) is the CNI
// glue that turns config and CNI_ARGS into store calls and errors into CNI
// error codes.
package ipam
