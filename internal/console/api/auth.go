package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// Authenticator says who sent a request. Bearer tokens (TokenAuthenticator) are the first; OIDC
// sessions and a trusted proxy plug in the same way.
type Authenticator interface {
	// Authenticate returns the request's user. An error wrapping ErrUnauthenticated means the
	// request carries no valid credentials (401); any other error means they could not be
	// checked (503), never that they are valid.
	Authenticate(r *http.Request) (access.User, error)
}

// ErrUnauthenticated is wrapped by Authenticate's errors for missing or invalid credentials.
var ErrUnauthenticated = errors.New("unauthenticated")

// TokenReviews creates TokenReviews; client-go's TokenReviewInterface is one.
type TokenReviews interface {
	Create(ctx context.Context, tr *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// TokenOptions tune a TokenAuthenticator; zero values take the defaults.
type TokenOptions struct {
	// TTL is how long a review's answer is remembered (default 10s): how long a revoked token
	// may still be accepted.
	TTL time.Duration
	// MaxEntries bounds the answers remembered (default 4,096), least recently used first out.
	MaxEntries int
	// Timeout bounds one review (default 10s).
	Timeout time.Duration
	// InFlight bounds the reviews in flight at once (default 16): requests with many distinct
	// tokens (each one a review, since an unknown token has no remembered answer) wait for a
	// free slot, each as long as its own request lasts, instead of flooding the API server.
	InFlight int
	Clock    clock.PassiveClock // for tests
}

// TokenAuthenticator authenticates `Authorization: Bearer` tokens with TokenReviews of the API
// server, as kube-apiserver's webhook token authenticator does. Answers are remembered by the
// token's SHA-256, never the token, and an error is never remembered.
type TokenAuthenticator struct {
	reviews TokenReviews
	lru     *cache.LRUExpireCache
	flights singleflight.Group
	slots   chan struct{} // one per review in flight
	opts    TokenOptions
}

// tokenAnswer is a remembered review: the user, or why the token is not valid.
type tokenAnswer struct {
	user   access.User
	reason string // "" when authenticated
}

// NewTokenAuthenticator returns an authenticator asking reviews.
func NewTokenAuthenticator(reviews TokenReviews, opts TokenOptions) *TokenAuthenticator {
	if opts.TTL <= 0 {
		opts.TTL = 10 * time.Second
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 4096
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 16
	}
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	return &TokenAuthenticator{reviews: reviews, lru: cache.NewLRUExpireCacheWithClock(opts.MaxEntries, opts.Clock),
		slots: make(chan struct{}, opts.InFlight), opts: opts}
}

// Authenticate implements Authenticator.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (access.User, error) {
	token, ok := bearerToken(r)
	if !ok {
		return access.User{}, fmt.Errorf("%w: no bearer token", ErrUnauthenticated)
	}
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	ans, err := a.answer(r.Context(), key, token)
	if err != nil {
		return access.User{}, err
	}
	if ans.reason != "" {
		return access.User{}, fmt.Errorf("%w: %s", ErrUnauthenticated, ans.reason)
	}
	return ans.user, nil
}

// answer returns the remembered answer for the token with key, or reviews it once however many
// requests wait for it. A flight whose starter gave up while waiting for a slot is started
// again by the next request still waiting.
func (a *TokenAuthenticator) answer(ctx context.Context, key, token string) (tokenAnswer, error) {
	for {
		if v, ok := a.lru.Get(key); ok {
			return v.(tokenAnswer), nil
		}
		ch := a.flights.DoChan(key, func() (any, error) { return a.reviewOnce(ctx, key, token) })
		select {
		case r := <-ch:
			if errors.Is(r.Err, errGaveUp) && ctx.Err() == nil {
				continue // the starter's request ended, not ours
			}
			if r.Err != nil {
				return tokenAnswer{}, r.Err
			}
			return r.Val.(tokenAnswer), nil
		case <-ctx.Done():
			return tokenAnswer{}, ctx.Err()
		}
	}
}

// errGaveUp marks a flight that ended because its starter's request ended before a slot was free.
var errGaveUp = errors.New("gave up waiting for a free TokenReview slot")

// reviewOnce waits for a slot as long as the starter's request lasts, then reviews the token
// detached from that request (others may wait for the answer) and remembers the answer.
func (a *TokenAuthenticator) reviewOnce(ctx context.Context, key, token string) (any, error) {
	if v, ok := a.lru.Get(key); ok {
		return v, nil
	}
	select {
	case a.slots <- struct{}{}:
		defer func() { <-a.slots }()
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", errGaveUp, ctx.Err())
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.Timeout)
	defer cancel()
	ans, err := a.review(rctx, token)
	if err != nil {
		return nil, err
	}
	a.lru.Add(key, ans, a.opts.TTL)
	return ans, nil
}

func (a *TokenAuthenticator) review(ctx context.Context, token string) (tokenAnswer, error) {
	tr, err := a.reviews.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return tokenAnswer{}, fmt.Errorf("reviewing the token: %w", err)
	}
	if !tr.Status.Authenticated {
		return tokenAnswer{reason: "the API server did not authenticate the token"}, nil
	}
	u := access.UserFromInfo(tr.Status.User)
	if u.Name == "" && len(u.Groups) == 0 {
		return tokenAnswer{reason: "the API server named no user for the token"}, nil
	}
	return tokenAnswer{user: u}, nil
}

// bearerToken returns the token of the request's Authorization header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// NewTokenReviews returns the TokenReviews of the API server cfg points at, without a
// client-side rate limit (see access.NewReviews): answers are remembered, and the API server's
// priority and fairness protects it.
func NewTokenReviews(cfg *rest.Config) (TokenReviews, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	c, err := authenticationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return c.TokenReviews(), nil
}
