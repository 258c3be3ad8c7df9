package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/policyherald/policy-herald/internal/console/api"
)

// gaugedReviews asks the real API server, holding each review a little longer (hold), and
// records the most reviews it ever had in flight at once.
type gaugedReviews struct {
	inner    api.TokenReviews
	hold     time.Duration
	mu       sync.Mutex
	now, max int
	total    int
}

func (g *gaugedReviews) Create(ctx context.Context, tr *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	g.mu.Lock()
	g.now, g.total = g.now+1, g.total+1
	g.max = max(g.max, g.now)
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.now--
		g.mu.Unlock()
	}()
	out, err := g.inner.Create(ctx, tr, opts)
	time.Sleep(g.hold) // so that reviews overlap even on a fast API server
	return out, err
}

func (g *gaugedReviews) counts() (total, most int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.total, g.max
}

// TestTokenReviewFlood: many requests with distinct invalid tokens at once (a scan, or a
// client gone wrong) cost one TokenReview each, but never more than the bound (16 by default)
// in flight, so they cannot flood the API server; each invalid answer is remembered, so the
// same tokens again cost nothing; every request gets its 401.
func TestTokenReviewFlood(t *testing.T) {
	w := cluster(t)
	trs, err := api.NewTokenReviews(w.Cfg)
	if err != nil {
		t.Fatal(err)
	}
	reviews := &gaugedReviews{inner: trs, hold: 20 * time.Millisecond}
	base := console(t, w, reviews, api.TokenOptions{})
	const tokens = 200
	for round := range 2 {
		var wg sync.WaitGroup
		statuses := make([]int, tokens)
		for i := range tokens {
			wg.Go(func() { statuses[i], _, _ = get(t, base, fmt.Sprintf("invalid-token-%d", i), "/api/v1/access") })
		}
		wg.Wait()
		for i, s := range statuses {
			if s != http.StatusUnauthorized {
				t.Fatalf("round %d, token %d: %d, want 401", round, i, s)
			}
		}
		total, most := reviews.counts()
		if total != tokens {
			t.Errorf("round %d: %d TokenReviews in all, want %d (one per distinct token)", round, total, tokens)
		}
		if most > 16 {
			t.Errorf("round %d: %d TokenReviews in flight at once, want at most 16", round, most)
		}
	}
}

// blockedReviews never answers until released. It says on entered when a review has come
// (the review holds a slot then).
type blockedReviews struct{ release, entered chan struct{} }

func (b blockedReviews) Create(ctx context.Context, _ *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	select {
	case b.entered <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
		return &authenticationv1.TokenReview{}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestTokenReviewWaitEndsWithTheRequest: a request waiting for a free review slot gives up
// when its own context ends, with an error that is not "unauthenticated" (so a 503, never a
// 401 for a token nobody checked).
func TestTokenReviewWaitEndsWithTheRequest(t *testing.T) {
	release, entered := make(chan struct{}), make(chan struct{}, 1)
	defer close(release)
	a := api.NewTokenAuthenticator(blockedReviews{release: release, entered: entered}, api.TokenOptions{InFlight: 1})
	go func() {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", "Bearer first")
		_, _ = a.Authenticate(r) // holds the only slot until release
	}()
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer second")
	start := time.Now()
	_, err := a.Authenticate(r)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, api.ErrUnauthenticated) {
		t.Errorf("waiting for a slot: %v, want the request's deadline", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("gave up after %v, want about 100ms", d)
	}
}
