package ipam

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// gateway is a KV over etcd's JSON gateway (POST /v3/kv/txn), which every
// etcd v3 member serves on its client port. It moves to the next endpoint
// when one cannot be reached.
type gateway struct {
	urls   []string
	client *http.Client
	prefer atomic.Uint32
	// perTry bounds one attempt when there are other endpoints to try, so
	// a member that accepts connections but never answers costs only this.
	perTry time.Duration
}

// EtcdError is an error etcd answered with; Code is the gRPC code.
type EtcdError struct {
	Endpoint string
	Code     int
	Message  string
}

func (e *EtcdError) Error() string {
	return fmt.Sprintf("etcd %s: %s (code %d)", e.Endpoint, e.Message, e.Code)
}

// NoGatewayError is an endpoint that does not serve etcd's JSON gateway.
type NoGatewayError struct{ Endpoint string }

func (e *NoGatewayError) Error() string {
	return fmt.Sprintf("%s does not serve etcd's JSON gateway (POST /v3/kv/txn answers 404): is it an etcd v3 client URL, with --enable-grpc-gateway left on?", e.Endpoint)
}

// gRPC codes etcd answers with that a retry cannot fix.
const (
	codeInvalidArgument    = 3
	codeFailedPrecondition = 9
	codeOutOfRange         = 11
	codePermissionDenied   = 7
	codeUnauthenticated    = 16
	codeResourceExhausted  = 8
)

func newGateway(eps []string, tlsCfg *tls.Config, dialTimeout, perTry time.Duration) *gateway {
	g := &gateway{perTry: perTry, client: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     tlsCfg,
		TLSHandshakeTimeout: dialTimeout,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}}}
	for _, ep := range eps {
		g.urls = append(g.urls, baseURL(ep, tlsCfg != nil))
	}
	return g
}

// baseURL gives an endpoint written as host:port the scheme TLS implies.
func baseURL(ep string, secure bool) string {
	ep = strings.TrimSuffix(ep, "/")
	if strings.Contains(ep, "://") {
		return ep
	}
	if secure {
		return "https://" + ep
	}
	return "http://" + ep
}

func (g *gateway) close() { g.client.CloseIdleConnections() }

type jsonCmp struct {
	Key            []byte `json:"key"`
	Target         string `json:"target"`
	Result         string `json:"result"`
	CreateRevision *int64 `json:"create_revision,omitempty,string"`
	ModRevision    *int64 `json:"mod_revision,omitempty,string"`
}

type jsonRange struct {
	Key          []byte `json:"key"`
	RangeEnd     []byte `json:"range_end,omitempty"`
	Limit        int64  `json:"limit,omitempty,string"`
	Serializable bool   `json:"serializable,omitempty"`
	KeysOnly     bool   `json:"keys_only,omitempty"`
	CountOnly    bool   `json:"count_only,omitempty"`
}

type jsonPut struct {
	Key   []byte `json:"key"`
	Value []byte `json:"value"`
}

type jsonDelete struct {
	Key      []byte `json:"key"`
	RangeEnd []byte `json:"range_end,omitempty"`
}

type jsonOp struct {
	Range  *jsonRange  `json:"request_range,omitempty"`
	Put    *jsonPut    `json:"request_put,omitempty"`
	Delete *jsonDelete `json:"request_delete_range,omitempty"`
}

type jsonTxn struct {
	Compare []jsonCmp `json:"compare,omitempty"`
	Success []jsonOp  `json:"success,omitempty"`
	Failure []jsonOp  `json:"failure,omitempty"`
}

type jsonKV struct {
	Key            []byte `json:"key"`
	Value          []byte `json:"value"`
	CreateRevision int64  `json:"create_revision,string"`
	ModRevision    int64  `json:"mod_revision,string"`
}

type jsonTxnResponse struct {
	Header struct {
		Revision int64 `json:"revision,string"`
	} `json:"header"`
	Succeeded bool `json:"succeeded"`
	Responses []struct {
		Range *struct {
			Kvs   []jsonKV `json:"kvs"`
			More  bool     `json:"more"`
			Count int64    `json:"count,string"`
		} `json:"response_range"`
	} `json:"responses"`
}

type jsonError struct {
	Error   string `json:"error"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func encodeOps(ops []Op) []jsonOp {
	out := make([]jsonOp, 0, len(ops))
	for _, op := range ops {
		var end []byte
		if op.End != "" {
			end = []byte(op.End)
		}
		switch op.Kind {
		case OpGetKind:
			out = append(out, jsonOp{Range: &jsonRange{Key: []byte(op.Key), RangeEnd: end, Limit: op.Limit, Serializable: op.Serializable, KeysOnly: op.KeysOnly, CountOnly: op.CountOnly}})
		case OpPutKind:
			out = append(out, jsonOp{Put: &jsonPut{Key: []byte(op.Key), Value: []byte(op.Value)}})
		case OpDeleteKind:
			out = append(out, jsonOp{Delete: &jsonDelete{Key: []byte(op.Key), RangeEnd: end}})
		}
	}
	return out
}

// Txn sends one transaction, to the endpoint that answered last, or to the
// others in turn when it cannot be reached.
func (g *gateway) Txn(ctx context.Context, cmps []Cmp, then, els []Op) (*TxnResponse, error) {
	req := jsonTxn{Success: encodeOps(then), Failure: encodeOps(els)}
	for _, c := range cmps {
		jc := jsonCmp{Key: []byte(c.Key), Target: "CREATE", Result: "EQUAL"}
		rev := c.Rev
		if c.Target == ModRev {
			jc.Target, jc.ModRevision = "MOD", &rev
		} else {
			jc.CreateRevision = &rev
		}
		if !c.Equal {
			jc.Result = "NOT_EQUAL"
		}
		req.Compare = append(req.Compare, jc)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode etcd transaction: %w", err)
	}
	return g.hedge(ctx, body)
}

// answer is one member's reply to a transaction.
type answer struct {
	idx  int
	resp *TxnResponse
	err  error
}

// hedge sends body to the member that answered last. When that member
// refuses or fails, the next one is asked at once; when it has not answered
// within perTry, the next one is asked too, and the first answer wins. A
// member that is only slow (every member is, on a saturated machine) thus
// keeps its request: cancelling it to start over elsewhere would only add
// load and could never finish. A write sent twice is safe, as its
// create-only guards let one commit at most.
func (g *gateway) hedge(ctx context.Context, body []byte) (*TxnResponse, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := int(g.prefer.Load())
	answers := make(chan answer, len(g.urls))
	asked, pending := 0, 0
	ask := func() {
		idx := (start + asked) % len(g.urls)
		asked, pending = asked+1, pending+1
		go func() {
			resp, err := g.post(ctx, g.urls[idx], body)
			answers <- answer{idx, resp, err}
		}()
	}
	ask()
	var lastErr error
	// Every request ends by ctx's deadline at the latest, and answers.
	for pending > 0 {
		slow := time.NewTimer(g.perTry)
		if asked == len(g.urls) || g.perTry <= 0 {
			slow.Stop()
		}
		select {
		case a := <-answers:
			slow.Stop()
			pending--
			if a.err == nil {
				g.prefer.Store(uint32(a.idx))
				return a.resp, nil
			}
			lastErr = a.err
			var ee *EtcdError
			if ctx.Err() != nil || (errors.As(a.err, &ee) && !retryOnOther(ee)) {
				return nil, a.err
			}
			if asked < len(g.urls) {
				ask()
			}
		case <-slow.C:
			ask()
		}
	}
	return nil, lastErr
}

// retryOnOther reports whether another member may answer where this one
// did not: it has no leader, lost it, or is not ready.
func retryOnOther(e *EtcdError) bool {
	switch e.Code {
	case codeInvalidArgument, codeFailedPrecondition, codeOutOfRange, codePermissionDenied, codeUnauthenticated, codeResourceExhausted:
		return false
	}
	return true
}

func (g *gateway) post(ctx context.Context, base string, body []byte) (*TxnResponse, error) {
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/kv/txn", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := g.client.Do(hreq)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", base, err)
	}
	defer hresp.Body.Close()
	raw, err := io.ReadAll(hresp.Body)
	if err != nil {
		return nil, fmt.Errorf("etcd %s: read response: %w", base, err)
	}
	if hresp.StatusCode == http.StatusNotFound {
		return nil, &NoGatewayError{Endpoint: base}
	}
	if hresp.StatusCode != http.StatusOK {
		var je jsonError
		if json.Unmarshal(raw, &je) == nil && (je.Message != "" || je.Error != "") {
			msg := je.Message
			if msg == "" {
				msg = je.Error
			}
			return nil, &EtcdError{Endpoint: base, Code: je.Code, Message: msg}
		}
		return nil, &EtcdError{Endpoint: base, Code: -1, Message: fmt.Sprintf("HTTP %d: %s", hresp.StatusCode, bytes.TrimSpace(raw))}
	}
	var jr jsonTxnResponse
	if err := json.Unmarshal(raw, &jr); err != nil {
		return nil, fmt.Errorf("etcd %s: decode transaction response: %w", base, err)
	}
	out := &TxnResponse{Succeeded: jr.Succeeded, Revision: jr.Header.Revision, Responses: make([]OpResponse, len(jr.Responses))}
	for i, r := range jr.Responses {
		if r.Range == nil {
			continue
		}
		out.Responses[i].More, out.Responses[i].Count = r.Range.More, r.Range.Count
		for _, kv := range r.Range.Kvs {
			out.Responses[i].Kvs = append(out.Responses[i].Kvs, KeyValue{Key: kv.Key, Value: kv.Value, CreateRevision: kv.CreateRevision, ModRevision: kv.ModRevision})
		}
	}
	return out, nil
}
