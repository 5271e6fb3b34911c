package ipam

import (
	"encoding/json"
	"net/netip"
	"time"
)

// Record says who holds an address. It is the value of an address key and,
// with the addresses added, of the owner key.
type Record struct {
	ContainerID  string    `json:"containerID"`
	IfName       string    `json:"ifname"`
	PodNamespace string    `json:"podNamespace,omitempty"`
	PodName      string    `json:"podName,omitempty"`
	PodUID       string    `json:"podUID,omitempty"`
	Node         string    `json:"node,omitempty"`
	Network      string    `json:"network,omitempty"`
	Time         time.Time `json:"time"`
}

// OwnedAddr is one address an owner holds, with its key so that DEL needs no
// config to find it.
type OwnedAddr struct {
	Key    string       `json:"key"`
	Addr   netip.Addr   `json:"ip"`
	Subnet netip.Prefix `json:"subnet"`
}

// Allocation is the value of an owner key: the record and every address it
// was given, all written in one transaction.
type Allocation struct {
	Record
	Addrs []OwnedAddr `json:"ips"`
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	err := json.Unmarshal(b, &r)
	return r, err
}

func decodeAllocation(b []byte) (Allocation, error) {
	var a Allocation
	err := json.Unmarshal(b, &a)
	return a, err
}
