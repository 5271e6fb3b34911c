// Command workload is the test workload the real-node e2e tests run as
// pods: a static HTTP server that reports its interfaces and, on request,
// dials or pings an address from inside the pod's network namespace.
//
//	GET /                    hostname and every interface's addresses
//	GET /dial?addr=host:port HTTP GET (or proto=tcp: a TCP connect) from the pod
//	GET /ping?addr=ip        one ICMP echo from the pod
//
// /dial and /ping answer 200 with the outcome in the body, so a failed
// dial is a result the test reads, not an HTTP error.
//
// `workload -identity` prints what GET / answers and exits: the image has
// no shell, so this is the command `kubectl exec` runs in it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	def := ":8080"
	if v := os.Getenv("LISTEN_ADDRESS"); v != "" {
		def = v
	}
	listen := flag.String("listen", def, "address to serve HTTP on (env LISTEN_ADDRESS)")
	printIdentity := flag.Bool("identity", false, "print the hostname and interfaces as JSON, as GET / answers, and exit")
	flag.Parse()
	if *printIdentity {
		if err := writeIdentity(os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		return
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	// PID 1 in a container ignores SIGTERM unless it handles it; without
	// this every pod deletion would wait out its whole grace period.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, *listen, log); err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, addr string, log *slog.Logger) error {
	srv := &http.Server{Addr: addr, Handler: newMux(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("serving", "address", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shut down %s: %w", addr, err)
	}
	return nil
}
