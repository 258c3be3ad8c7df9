package access

import (
	"context"
	"time"

	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/cache"
)

// decisions remembers answers for a while (the TTL) and makes concurrent identical questions
// share one request. The LRU is the one kube-apiserver's webhook authorizer caches
// SubjectAccessReviews in: bounded, so many people or namespaces cannot grow it without limit.
type decisions struct {
	lru     *cache.LRUExpireCache
	ttl     time.Duration
	flights singleflight.Group
}

func newDecisions(maxEntries int, ttl time.Duration, clock cache.Clock) *decisions {
	return &decisions{lru: cache.NewLRUExpireCacheWithClock(maxEntries, clock), ttl: ttl}
}

func (d *decisions) get(key string) (allowed, ok bool) {
	v, ok := d.lru.Get(key)
	if !ok {
		return false, false
	}
	return v.(bool), true
}

// decide returns the remembered answer to key, or asks. An error is never remembered, so the
// next request asks again. ask runs detached from ctx, so a caller that gives up does not fail
// the others waiting for the same answer; ctx only bounds how long this caller waits.
func (d *decisions) decide(ctx context.Context, key string, ask func(context.Context) (bool, error)) (bool, error) {
	if allowed, ok := d.get(key); ok {
		return allowed, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err // too late: do not start a request nobody waits for
	}
	ch := d.flights.DoChan(key, func() (any, error) {
		// A flight that ended between get and DoChan has already remembered its answer.
		if allowed, ok := d.get(key); ok {
			return allowed, nil
		}
		allowed, err := ask(context.WithoutCancel(ctx))
		if err != nil {
			return false, err
		}
		d.lru.Add(key, allowed, d.ttl)
		return allowed, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return false, r.Err
		}
		return r.Val.(bool), nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}
