package metacni

import (
	"errors"
	"testing"

	"github.com/containernetworking/cni/pkg/types"

	"github.com/meta-cni/meta-cni/pkg/config"
)

// A GC without the list of attachments to keep is refused rather than read
// as "keep none", which would delete every pod's networks on the node; a
// null list, which libcni sends when nothing is live, keeps none.
func TestGCWithoutValidAttachmentsIsRefusedAndNullKeepsNone(t *testing.T) {
	_, err := validAttachments([]byte(`{"cniVersion":"1.1.0","name":"meta-cni","type":"meta-cni"}`))
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Field != validAttachmentsKey || cniError(podRef{}, err).Code != types.ErrInvalidNetworkConfig {
		t.Fatalf("err = %v, want code 7 on %s", err, validAttachmentsKey)
	}
	valid, err := validAttachments(gcStdin(t, nil))
	if err != nil || len(valid) != 0 {
		t.Fatalf("null list: %v, %v; want no attachment kept", valid, err)
	}
	// Only libcni's exact key counts: encoding/json's case-insensitive
	// match read any spelling.
	if _, err := validAttachments([]byte(`{"CNI.DEV/valid-attachments":[]}`)); err == nil {
		t.Fatal("a key spelled otherwise than libcni writes it was read as the list")
	}
}
