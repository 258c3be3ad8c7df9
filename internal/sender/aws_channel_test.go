package sender_test

// The test of a channel's AWS destination as package destination resolves it; it is an
// external test, as package destination imports this one.

import (
	"context"
	"strings"
	"testing"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/secrets"
	"github.com/policyherald/policy-herald/internal/sender"
)

// TestAWSTenantChannelGetsNoPlatformIdentity: a tenant's channel of a platform target that
// redirects the bucket inherits none of the target's keys (destination.ResolveChannel), and,
// as the controllers build it (AmbientCredentials only for the platform namespace), it is
// refused instead of falling back to the operator's identity. A channel that only changes
// the prefix keeps the target's keys.
func TestAWSTenantChannelGetsNoPlatformIdentity(t *testing.T) {
	sender.IsolateAWSEnv(t)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDOPERATORIDENTITY")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")
	target := &v1alpha1.Destinations{S3: &v1alpha1.S3Destination{Bucket: "platform-bucket", AWSSettings: v1alpha1.AWSSettings{Region: "eu-west-1"}}}
	targetSecret := secrets.Values{"accessKeyID": sender.AWSTestKeyID, "secretAccessKey": sender.AWSTestSecret}
	build := func(channel *v1alpha1.Destinations) (sender.Sender, error) {
		r, err := destination.ResolveChannel(destination.Layers{Target: target, Channel: channel, TargetSecret: targetSecret})
		if err != nil {
			t.Fatal(err)
		}
		// controllers/targetchannel_controller.go: all = channel namespace == platform namespace.
		return sender.New(context.Background(), sender.Config{Type: r.Type, Destination: r.Destination, Settings: r.Settings,
			Name: "team-a/steal", AmbientCredentials: false, Guard: addrguard.New(addrguard.MustParseCIDRs(addrguard.DefaultBlockedCIDRs))})
	}
	_, err := build(&v1alpha1.Destinations{S3: &v1alpha1.S3Destination{Bucket: "tenant-bucket"}})
	if err == nil || !strings.Contains(err.Error(), sender.AWSNoAmbient) {
		t.Fatalf("redirecting channel: %v", err)
	}
	s, err := build(&v1alpha1.Destinations{S3: &v1alpha1.S3Destination{Prefix: "team-a"}})
	if err != nil {
		t.Fatalf("prefix-only channel: %v", err)
	}
	if sender.Unusable(s) {
		t.Fatal("prefix-only channel lost the target's keys")
	}
}
