package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// A case is one kind of request, as the console's pages and scripts send it.
type bench struct {
	name, path string
	target     time.Duration // the p99 target; 0 for none
}

var cases = []bench{
	{"overview", "/api/v1/overview", 200 * time.Millisecond},
	{"filtered grouped page", "/api/v1/results?status=fail&status=warn&severity=high&severity=critical&q=PRIVILEGED+mode&groupBy=namespace&sort=policy&limit=100", 200 * time.Millisecond},
	{"API filtered page of 100", "/api/v1/results?status=fail&policy=policy-1&sort=time&order=desc&limit=100&offset=100", 50 * time.Millisecond},
	{"export CSV (status=fail)", "/api/v1/results/export?format=csv&status=fail", 0},
	{"export JSON (everything)", "/api/v1/results/export?format=json", 0},
}

// timing records the server time of each request: from the handler's start until it returned,
// the whole body written to the connection.
type timing struct {
	mu   sync.Mutex
	last time.Duration
}

func (t *timing) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h.ServeHTTP(w, r)
		t.mu.Lock()
		t.last = time.Since(start)
		t.mu.Unlock()
	})
}

func (t *timing) take() time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.last
}

// serve serves h on a loopback port.
func serve(h http.Handler) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return srv, "http://" + ln.Addr().String(), nil
}

type stats struct {
	p50, p99, max time.Duration
	bytes         int64
}

// measure sends the case's request as token, one at a time (server time is what one request
// costs, not how a 2-core machine shares itself), 10 to warm up, then n measured.
func measure(base string, c bench, token string, n int, t *timing) (stats, error) {
	var times []time.Duration
	var size int64
	for i := range n + 10 {
		req, err := http.NewRequest(http.MethodGet, base+c.path, nil)
		if err != nil {
			return stats{}, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return stats{}, err
		}
		size, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return stats{}, fmt.Errorf("status %d, %v", resp.StatusCode, err)
		}
		if i >= 10 {
			times = append(times, t.take())
		}
	}
	slices.Sort(times)
	return stats{p50: times[len(times)/2], p99: times[(len(times)*99+99)/100-1], max: times[len(times)-1], bytes: size}, nil
}
