package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"

	"github.com/meta-cni/meta-cni/pkg/report"
)

// NodeAPI is the daemon's end of the plugin's Kubernetes calls. The plugin
// is a fresh process on every ADD; sent through here, its four calls (GET
// the pod, GET each NetworkAttachmentDefinition, PATCH pods/status, POST an
// Event) ride the daemon's long-lived HTTP/2 connection and credentials,
// so the plugin skips the kubeconfig, the TLS handshake and the HTTP/2
// set-up, and the API server sees one client per node instead of one per
// pod. Only those four calls are served, with their names checked, and of
// writes to pods/status only the network-status patch of a pod on this node
// (see statusQueue.accept); any other request gets 501.
//
// The two GETs are answered by the API server. The two writes are taken
// off the pod's start-up path: Events are queued and sent in the
// background, as client-go's event recorders send them, and the
// network-status patch is written to a journal on the node and applied by
// the daemon right after (see statusQueue), so ADD does not wait for the
// API server to store either.
type NodeAPI struct {
	proxy   *httputil.ReverseProxy
	mux     *http.ServeMux
	metrics *nodeAPIMetrics
	events  *eventQueue
	status  *statusQueue
	log     *slog.Logger
}

// userAgent names the daemon in the API server's logs, for forwarded and
// background requests alike.
const userAgent = "meta-cni-daemon/node-api"

// The routes the node API serves, by the name metrics give them.
const (
	routeGetPod      = "get-pod"
	routeGetNAD      = "get-network-attachment-definition"
	routePatchStatus = "patch-pod-status"
	routeEvent       = "create-event"
)

// NewNodeAPI forwards to the API server cfg names, with cfg's credentials.
// node is this node's name: network-status patches are applied only to
// pods scheduled on it, and refused when it is empty. journalDir holds the network-status patches not yet applied; patches a
// previous daemon left there are applied first.
func NewNodeAPI(cfg *rest.Config, node, journalDir string, log *slog.Logger) (*NodeAPI, error) {
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("node API transport: %w", err)
	}
	host := cfg.Host
	if !strings.Contains(host, "://") {
		host = "https://" + host
	}
	upstream, err := url.Parse(host)
	if err != nil {
		return nil, fmt.Errorf("node API: parse API server address %q: %w", cfg.Host, err)
	}
	n := &NodeAPI{mux: http.NewServeMux(), metrics: newNodeAPIMetrics(), log: log}
	client := &http.Client{Transport: rt, Timeout: 30 * time.Second}
	n.events = newEventQueue(client, upstream, log)
	if n.status, err = newStatusQueue(client, upstream, node, journalDir, n.events, log); err != nil {
		n.events.close(context.Background())
		return nil, err
	}
	n.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			pr.Out.Host = ""
			pr.Out.Header.Set("User-Agent", userAgent)
		},
		Transport: rt,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Warn("node API: API server request failed", "request", r.Method+" "+r.URL.Path, "err", err)
			writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable,
				fmt.Sprintf("meta-cni-daemon could not reach the kube-apiserver: %v", err))
		},
	}
	forward := n.proxy.ServeHTTP
	n.route(routeGetPod, "GET /api/v1/namespaces/{namespace}/pods/{name}", "/api/v1/namespaces/%s/pods/%s", forward)
	n.route(routeGetNAD, "GET /apis/k8s.cni.cncf.io/v1/namespaces/{namespace}/network-attachment-definitions/{name}",
		"/apis/k8s.cni.cncf.io/v1/namespaces/%s/network-attachment-definitions/%s", forward)
	n.route(routePatchStatus, "PATCH /api/v1/namespaces/{namespace}/pods/{name}/status", "/api/v1/namespaces/%s/pods/%s/status",
		n.status.accept)
	n.route(routeEvent, "POST /api/v1/namespaces/{namespace}/events", "/api/v1/namespaces/%s/events", n.events.accept)
	n.mux.HandleFunc("POST "+report.Path, n.acceptReport)
	n.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	n.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusNotImplemented, "",
			fmt.Sprintf("meta-cni-daemon's node API does not serve %s %s; are the plugin and the daemon from the same release?", r.Method, r.URL.Path))
	})
	return n, nil
}

func (n *NodeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { n.mux.ServeHTTP(w, r) }

// Idle reports whether every network-status patch and Event the node API
// accepted has been applied or given up.
func (n *NodeAPI) Idle() bool {
	return n.status.pendingCount() == 0 && n.events.queued.Load() == n.events.sent.Load()+n.events.failed.Load()
}

// Close applies the pending network-status patches and sends the queued
// Events, for at most the time ctx allows. Patches left over stay in the
// journal for the next daemon.
func (n *NodeAPI) Close(ctx context.Context) {
	n.status.close(ctx)
	n.events.close(ctx)
}

// maxBody bounds a PATCH or POST body; a network-status annotation is a
// few KiB.
const maxBody = 1 << 20

// route serves one call. The path is rebuilt from names that passed
// Kubernetes' own validation, so nothing else can be smuggled through, and
// of the query only resourceVersion (the watch-cache read) is kept.
func (n *NodeAPI) route(name, pattern, upstreamPath string, forward func(http.ResponseWriter, *http.Request)) {
	withName := strings.Count(upstreamPath, "%s") == 2
	n.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() { n.metrics.observe(name, rec.code, time.Since(start)) }()
		namespace := r.PathValue("namespace")
		if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
			writeStatus(rec, http.StatusBadRequest, metav1.StatusReasonBadRequest,
				fmt.Sprintf("namespace %q: %s", namespace, strings.Join(errs, "; ")))
			return
		}
		args := []any{namespace}
		if withName {
			objName := r.PathValue("name")
			if errs := validation.IsDNS1123Subdomain(objName); len(errs) > 0 {
				writeStatus(rec, http.StatusBadRequest, metav1.StatusReasonBadRequest,
					fmt.Sprintf("name %q: %s", objName, strings.Join(errs, "; ")))
				return
			}
			args = append(args, objName)
		}
		out := r.Clone(r.Context())
		out.URL.Path, out.URL.RawPath = fmt.Sprintf(upstreamPath, args...), ""
		out.URL.RawQuery = ""
		if rv, ok := r.URL.Query()["resourceVersion"]; ok && r.Method == http.MethodGet && len(rv) == 1 {
			out.URL.RawQuery = url.Values{"resourceVersion": rv}.Encode()
		}
		if r.Body != nil {
			out.Body = http.MaxBytesReader(rec, r.Body, maxBody)
		}
		forward(rec, out)
	})
}

// writeStatus answers with a Kubernetes Status, which the plugin's client
// decodes like the API server's own errors.
func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Reason: reason, Code: int32(code), Message: msg,
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// nodeAPIServer is the node API listening on its socket.
type nodeAPIServer struct {
	path string
	ln   *net.UnixListener
	info os.FileInfo
	srv  *http.Server
	done chan error
}

// serveNodeAPI binds the socket and serves h on it. The socket is made
// under a temporary name, restricted to root, then renamed over the final
// path: a stale socket from a crashed daemon is replaced, and a plugin
// never finds one it may not use.
func serveNodeAPI(path string, h http.Handler) (*nodeAPIServer, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("node API socket dir: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	_ = os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on node API socket: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	fail := func(err error) (*nodeAPIServer, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("node API socket %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	info, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	s := &nodeAPIServer{path: path, ln: ln, info: info, done: make(chan error, 1),
		srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}}
	go func() { s.done <- s.srv.Serve(ln) }()
	return s, nil
}

// ServeSocket serves h on a unix socket at path the way the daemon serves
// the node API (root only, replacing a stale socket) until the returned
// func is called; it does not Close a NodeAPI behind h.
func ServeSocket(path string, h http.Handler) (stop func(), err error) {
	s, err := serveNodeAPI(path, h)
	if err != nil {
		return nil, err
	}
	return s.close, nil
}

// close stops serving and removes the socket, unless another daemon has
// replaced it meanwhile, so plugins fall back at once instead of being
// refused by a stale file.
func (s *nodeAPIServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.srv.Shutdown(ctx)
	if now, err := os.Lstat(s.path); err == nil && os.SameFile(now, s.info) {
		_ = os.Remove(s.path)
	}
}

// probeNodeAPI asks the node API's /healthz over its socket, so the
// daemon's own /healthz fails when the socket no longer answers.
func probeNodeAPI(ctx context.Context, path string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://meta-cni-daemon/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}
