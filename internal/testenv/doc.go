// Package testenv is the one test harness shared by every test layer and by
// `make demo`: it builds binaries, makes network namespaces, runs plugins the
// way a container runtime does, and starts real etcd and kube-apiserver
// processes on free loopback ports.
package testenv
