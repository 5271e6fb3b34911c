// Package conformance holds the differential suite that runs every
// scenario through Multus (built from its own module) and through meta-cni
// on the same harness, and checks that every difference between them is
// the one docs/multus-compat.md declares. It has no code outside tests.
package conformance
