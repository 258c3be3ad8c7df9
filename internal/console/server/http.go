package server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
)

// Timeouts of the API's HTTP server: a slow client cannot hold a connection for long, while an
// export of every result (tens of megabytes) still has time to download.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 5 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 20 * time.Second
	maxHeaderBytes    = 64 << 10
)

// httpServer is the API's server as a manager runnable: it stops when the manager does, letting
// the requests in flight finish for up to shutdownTimeout.
type httpServer struct {
	addr      string
	handler   http.Handler
	tls       *tls.Config // nil: plain HTTP
	log       logr.Logger
	listening func(net.Addr)
}

func (s *httpServer) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return err
	}
	if s.tls != nil {
		ln = tls.NewListener(ln, s.tls)
	}
	srv := &http.Server{
		Handler: s.handler, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes,
		BaseContext: func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	s.log.Info("serving the console API", "address", ln.Addr().String(), "tls", s.tls != nil)
	if s.listening != nil {
		s.listening(ln.Addr())
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// NeedLeaderElection: every replica serves.
func (s *httpServer) NeedLeaderElection() bool { return false }
