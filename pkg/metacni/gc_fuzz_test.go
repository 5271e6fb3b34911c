package metacni

import (
	"encoding/json"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/config"
)

// gcStdin is a GC config as libcni builds it for meta-cni's plugin.
func gcStdin(t *testing.T, valid []types.GCAttachment) []byte {
	t.Helper()
	p, err := libcni.ConfFromBytes([]byte(`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni","kubeconfig":"/k"}`))
	if err != nil {
		t.Fatal(err)
	}
	p, err = libcni.InjectConf(p, map[string]any{validAttachmentsKey: valid, "cni.dev/attachments": valid})
	if err != nil {
		t.Fatal(err)
	}
	return p.Bytes
}

// FuzzValidAttachments reads the GC stdin, which the runtime writes: what
// libcni writes for any attachments reads back as exactly those; anything
// accepted reads back the same once written again; anything refused is a
// code 7 error naming cni.dev/valid-attachments.
func FuzzValidAttachments(f *testing.F) {
	for _, s := range []string{
		`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni","cni.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"},{"containerID":"c2","ifname":"eth0"}]}`,
		`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni","cni.dev/valid-attachments":null,"cni.dev/attachments":null}`,
		`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni","cni.dev/valid-attachments":[]}`,
		`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni"}`,
		`{"CNI.dev/valid-attachments":[{"containerID":"c1","ifname":"eth0"}]}`,
		`{"cni.dev/valid-attachments":[{"ContainerID":"c1","IFNAME":"eth0","extra":1}]}`,
		`{"cni.dev/valid-attachments":{"containerID":"c1"}}`,
		`{"cni.dev/valid-attachments":[{"containerID":1}]}`,
		`{"cni.dev/valid-attachments":[null,{}]}`,
		`{"cni.dev/valid-attachments":[{"containerID":"a"}],"cni.dev/valid-attachments":[{"containerID":"b"}]}`,
		`null`, `[]`, ``,
	} {
		f.Add([]byte(s), "c0ffee", "eth0")
	}
	f.Fuzz(func(t *testing.T, stdin []byte, containerID, ifName string) {
		written := []types.GCAttachment{{ContainerID: containerID, IfName: ifName}, {ContainerID: "other", IfName: "net1"}}
		got, err := validAttachments(gcStdin(t, written))
		// JSON carries strings as UTF-8: an invalid byte arrives as U+FFFD.
		var carried []types.GCAttachment
		if b, err := json.Marshal(written); err != nil || json.Unmarshal(b, &carried) != nil {
			t.Fatal(err)
		}
		want := map[types.GCAttachment]bool{carried[0]: true, carried[1]: true}
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("libcni's %+v read back as %v, %v", written, got, err)
		}

		valid, err := validAttachments(stdin)
		if err != nil {
			var fe *config.FieldError
			if valid != nil || !errors.As(err, &fe) || fe.Field != validAttachmentsKey {
				t.Fatalf("refused %q with %v (%T), want a FieldError on %s", stdin, err, err, validAttachmentsKey)
			}
			if e := cniError(podRef{}, err); e.Code != types.ErrInvalidNetworkConfig || !strings.Contains(e.Msg, validAttachmentsKey) {
				t.Fatalf("refused %q with CNI error %d %q, want code 7 naming the field", stdin, e.Code, e.Msg)
			}
			return
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(stdin, &top) != nil || top[validAttachmentsKey] == nil {
			t.Fatalf("accepted %q, which has no %s key", stdin, validAttachmentsKey)
		}
		var list []types.GCAttachment
		for a := range valid {
			list = append(list, a)
		}
		again, err := validAttachments(gcStdin(t, list))
		if err != nil || !maps.Equal(again, valid) {
			t.Fatalf("%q read as %v, written again and read as %v, %v", stdin, valid, again, err)
		}
	})
}
