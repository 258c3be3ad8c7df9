package login

import (
	"context"
	"fmt"
	"net"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// Dev is the development identity: every request is the kubeconfig's own user, so the console
// shows what that kubeconfig may see, through the same SubjectAccessReviews as anyone's.
type Dev struct{ User access.User }

// Authenticate implements api.Authenticator.
func (d Dev) Authenticate(*http.Request) (access.User, error) { return d.User, nil }

// DevUser asks the API server who cfg's credentials are (a SelfSubjectReview).
func DevUser(ctx context.Context, cfg *rest.Config) (access.User, error) {
	c, err := authenticationv1client.NewForConfig(cfg)
	if err != nil {
		return access.User{}, err
	}
	r, err := c.SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return access.User{}, fmt.Errorf("asking the API server who the kubeconfig's user is (SelfSubjectReview): %w", err)
	}
	return access.UserFromInfo(r.Status.UserInfo), nil
}

// CheckLoopback refuses a bind address that is not on loopback: development mode serves
// without login, so only this machine may reach it.
func CheckLoopback(bindAddress string) error {
	host, _, err := net.SplitHostPort(bindAddress)
	if err != nil {
		return fmt.Errorf("--dev: the bind address %q: %w", bindAddress, err)
	}
	// An IP literal only: a name could resolve elsewhere.
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("--dev serves without login, so only on a loopback address: --bind-address=%q is not one (use 127.0.0.1:8090)", bindAddress)
}
