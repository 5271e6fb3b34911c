package ipam

import "context"

// KV is the one etcd call the store makes: a transaction. Keeping it this
// small lets the plugin talk to etcd's JSON gateway with net/http instead
// of linking the gRPC client, which alone doubles a plugin run's start-up
// time, and lets tests wrap it.
type KV interface {
	Txn(ctx context.Context, cmps []Cmp, then, els []Op) (*TxnResponse, error)
}

// Cmp compares a key's create or mod revision, as etcd's Compare does.
type Cmp struct {
	Key    string
	Target CmpTarget
	Equal  bool // false means "not equal"
	Rev    int64
}

// CmpTarget is the revision a Cmp looks at.
type CmpTarget int

// The revisions a Cmp can look at.
const (
	CreateRev CmpTarget = iota
	ModRev
)

// CreateIs and ModIs build the two compares the store uses.
func CreateIs(key string, rev int64) Cmp {
	return Cmp{Key: key, Target: CreateRev, Equal: true, Rev: rev}
}

// CreateIsNot is true when the key's create revision differs from rev.
func CreateIsNot(key string, rev int64) Cmp {
	return Cmp{Key: key, Target: CreateRev, Equal: false, Rev: rev}
}

// ModIs is true when the key's mod revision is rev.
func ModIs(key string, rev int64) Cmp { return Cmp{Key: key, Target: ModRev, Equal: true, Rev: rev} }

// Op is a get, put or delete inside a transaction.
type Op struct {
	Kind         OpKind
	Key, End     string // End empty: the key alone
	Value        string
	Limit        int64
	Serializable bool
	KeysOnly     bool
	// CountOnly returns how many keys the range holds, and no key.
	CountOnly bool
}

// OpKind says what an Op does.
type OpKind int

// The kinds of Op.
const (
	OpGetKind OpKind = iota
	OpPutKind
	OpDeleteKind
)

// Get reads one key.
func Get(key string) Op { return Op{Kind: OpGetKind, Key: key} }

// GetRange reads [key, end).
func GetRange(key, end string, limit int64) Op {
	return Op{Kind: OpGetKind, Key: key, End: end, Limit: limit}
}

// CountRange counts the keys in [key, end) without reading them.
func CountRange(key, end string) Op {
	return Op{Kind: OpGetKind, Key: key, End: end, CountOnly: true}
}

// Put writes a key.
func Put(key, value string) Op { return Op{Kind: OpPutKind, Key: key, Value: value} }

// Delete removes a key.
func Delete(key string) Op { return Op{Kind: OpDeleteKind, Key: key} }

// TxnResponse is what a transaction returns: which branch ran and, per op
// of that branch, the keys a get read.
type TxnResponse struct {
	Succeeded bool
	Revision  int64
	Responses []OpResponse
}

// OpResponse is one op's result; only gets fill it.
type OpResponse struct {
	Kvs  []KeyValue
	More bool
	// Count is how many keys the range holds, whatever Limit returned.
	Count int64
}

// KeyValue is one key as etcd holds it.
type KeyValue struct {
	Key            []byte
	Value          []byte
	CreateRevision int64
	ModRevision    int64
}

// prefixEnd is the range end that covers every key starting with p.
func prefixEnd(p string) string {
	b := []byte(p)
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] < 0xff {
			b[i]++
			return string(b[:i+1])
		}
	}
	return "\x00"
}
