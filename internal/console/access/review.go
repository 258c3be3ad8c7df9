package access

import (
	"context"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
)

// SubjectAccessReviews creates SubjectAccessReviews; client-go's
// SubjectAccessReviewInterface is one, made with the console's own identity, which may create
// them (NewReviews makes one).
type SubjectAccessReviews interface {
	Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// NewReviews returns the SubjectAccessReviews of the API server cfg points at. It has no
// client-side rate limit: client-go's default (5 per second) would make a person bound in a
// few of 2,000 namespaces wait minutes, while the Authorizer already bounds its requests in
// flight and the API server's priority and fairness protects the server.
func NewReviews(cfg *rest.Config) (SubjectAccessReviews, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = -1, 0, nil
	c, err := authorizationv1client.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return c.SubjectAccessReviews(), nil
}

// question is one thing a person may or may not do.
type question struct {
	verb, group, resource, namespace, name string
}

// key identifies the question of the user with identity id in the cache.
func (q question) key(id string) string {
	return id + "\x00" + q.verb + "\x00" + q.group + "\x00" + q.resource + "\x00" + q.namespace + "\x00" + q.name
}

// review is the SubjectAccessReview asking q for u.
func (q question) review(u User) *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.extra(),
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: q.verb, Group: q.group, Resource: q.resource, Namespace: q.namespace, Name: q.name,
		},
	}}
}

// ask creates the SubjectAccessReview of q for u and returns its decision and reason. An answer
// with an evaluation error is still an answer: RBAC reports a binding to a missing role that
// way, and decides without it.
func ask(ctx context.Context, reviews SubjectAccessReviews, u User, q question) (allowed bool, reason string, err error) {
	sar, err := reviews.Create(ctx, q.review(u), metav1.CreateOptions{})
	if err != nil {
		return false, "", err
	}
	return sar.Status.Allowed && !sar.Status.Denied, sar.Status.Reason, nil
}
