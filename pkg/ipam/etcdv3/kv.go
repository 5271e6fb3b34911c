// Package etcdv3 serves the ipam store over etcd's gRPC client, for callers
// that live long enough to keep a warm connection, such as a node daemon.
// The plugin binary does not import it: linking the gRPC client doubles the
// start-up time of every plugin run.
package etcdv3

import (
	"context"
	"errors"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/codes"

	"github.com/meta-cni/meta-cni/pkg/ipam"
)

// KV is an ipam.KV over a clientv3 client.
type KV struct {
	Client *clientv3.Client
}

var _ ipam.KV = KV{}

// Txn runs one transaction.
func (k KV) Txn(ctx context.Context, cmps []ipam.Cmp, then, els []ipam.Op) (*ipam.TxnResponse, error) {
	var cs []clientv3.Cmp
	for _, c := range cmps {
		op := "="
		if !c.Equal {
			op = "!="
		}
		target := clientv3.CreateRevision(c.Key)
		if c.Target == ipam.ModRev {
			target = clientv3.ModRevision(c.Key)
		}
		cs = append(cs, clientv3.Compare(target, op, c.Rev))
	}
	resp, err := k.Client.Txn(ctx).If(cs...).Then(ops(then)...).Else(ops(els)...).Commit()
	if err != nil {
		return nil, k.refusal(err)
	}
	out := &ipam.TxnResponse{Succeeded: resp.Succeeded, Revision: resp.Header.Revision, Responses: make([]ipam.OpResponse, len(resp.Responses))}
	for i, r := range resp.Responses {
		rr := r.GetResponseRange()
		if rr == nil {
			continue
		}
		out.Responses[i].More, out.Responses[i].Count = rr.More, rr.Count
		for _, kv := range rr.Kvs {
			out.Responses[i].Kvs = append(out.Responses[i].Kvs, ipam.KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
		}
	}
	return out, nil
}

// refusal turns etcd refusing a request as invalid into the ipam.EtcdError
// the JSON gateway gives, so the store fails it at once rather than
// retrying it until the deadline; any other error passes unchanged.
func (k KV) refusal(err error) error {
	var ee rpctypes.EtcdError
	if !errors.As(err, &ee) || (ee.Code() != codes.InvalidArgument && ee.Code() != codes.OutOfRange) {
		return err
	}
	return &ipam.EtcdError{Endpoint: strings.Join(k.Client.Endpoints(), ","), Code: int(ee.Code()), Message: ee.Error()}
}

func ops(in []ipam.Op) []clientv3.Op {
	out := make([]clientv3.Op, 0, len(in))
	for _, op := range in {
		switch op.Kind {
		case ipam.OpGetKind:
			var opts []clientv3.OpOption
			if op.End != "" {
				opts = append(opts, clientv3.WithRange(op.End))
			}
			if op.Limit > 0 {
				opts = append(opts, clientv3.WithLimit(op.Limit))
			}
			if op.Serializable {
				opts = append(opts, clientv3.WithSerializable())
			}
			if op.KeysOnly {
				opts = append(opts, clientv3.WithKeysOnly())
			}
			if op.CountOnly {
				opts = append(opts, clientv3.WithCountOnly())
			}
			out = append(out, clientv3.OpGet(op.Key, opts...))
		case ipam.OpPutKind:
			out = append(out, clientv3.OpPut(op.Key, op.Value))
		case ipam.OpDeleteKind:
			var opts []clientv3.OpOption
			if op.End != "" {
				opts = append(opts, clientv3.WithRange(op.End))
			}
			out = append(out, clientv3.OpDelete(op.Key, opts...))
		}
	}
	return out
}
