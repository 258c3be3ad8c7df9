package login

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/access"
)

// Dev is the development identity: every request is the kubeconfig's own user, so the console
// shows what that kubeconfig may see, through the same SubjectAccessReviews as anyone's.
type Dev struct{ User access.User }

// Authenticate implements api.Authenticator. Only requests addressed to a loopback host count:
// a web page whose own name an attacker re-pointed at 127.0.0.1 (DNS rebinding) sends its own
// name as Host, and is not the developer.
func (d Dev) Authenticate(r *http.Request) (access.User, error) {
	if !loopbackHost(r.Host) {
		return access.User{}, fmt.Errorf("%w: development mode answers only requests to a loopback address, not %q", ErrNoCredentials, r.Host)
	}
	return d.User, nil
}

// loopbackHost says whether a Host header names this machine: a loopback IP or localhost.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

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
