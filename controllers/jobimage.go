package controllers

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/emailjob"
)

// OperatorContainer is the name of the operator's container in its Deployment
// (config/manager/manager.yaml), whose image the e-mail report Jobs run.
const OperatorContainer = "manager"

// JobImage finds the image the e-mail report Jobs run: the one configured, else the operator's
// own, read once from its Pod (with its pull policy and pull secrets, which are in the same
// namespace as the Jobs).
type JobImage struct {
	configured string
	pod        client.ObjectKey
	reader     client.Reader

	mu    sync.Mutex
	found *emailjob.Image
}

// NewJobImage returns the image source: configured if it is set, else the container
// OperatorContainer of the Pod pod, read with reader.
func NewJobImage(configured string, pod client.ObjectKey, reader client.Reader) *JobImage {
	return &JobImage{configured: configured, pod: pod, reader: reader}
}

// Resolve returns the image, or a problem that says why it is unknown. A failed look-up is
// tried again on the next call.
func (j *JobImage) Resolve(ctx context.Context) (emailjob.Image, error) {
	if j.configured != "" {
		return emailjob.Image{Image: j.configured}, nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.found != nil {
		return *j.found, nil
	}
	unknown := func(format string, args ...any) error {
		p := conditions.Transient(v1alpha1.ReasonJobImageUnknown, fmt.Sprintf(format, args...)+
			": set --email-report-image, or run the operator with POD_NAME and POD_NAMESPACE from the downward API")
		p.RetryAfter = time.Minute
		return p
	}
	if j.pod.Name == "" || j.pod.Namespace == "" {
		return emailjob.Image{}, unknown("the operator does not know its own Pod (POD_NAME, POD_NAMESPACE), whose image the report Jobs run")
	}
	var pod corev1.Pod
	if err := j.reader.Get(ctx, j.pod, &pod); err != nil {
		return emailjob.Image{}, unknown("reading the operator's own Pod %s for its image: %v", j.pod, err)
	}
	i := slices.IndexFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == OperatorContainer })
	if i < 0 {
		return emailjob.Image{}, unknown("the operator's Pod %s has no container %q", j.pod, OperatorContainer)
	}
	c := pod.Spec.Containers[i]
	j.found = &emailjob.Image{Image: c.Image, PullPolicy: c.ImagePullPolicy, PullSecrets: pod.Spec.ImagePullSecrets}
	return *j.found, nil
}
