package controllers

import (
	"context"
	"time"

	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"sort"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/addrguard"
	"github.com/policyherald/policy-herald/internal/conditions"
	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/delivery"
	"github.com/policyherald/policy-herald/internal/destination"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/routing"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/tlsconfig"
)

// deliverySpec is everything a NotificationTarget or TargetChannel resolves to, before it
// becomes the delivery engine's Config (build) or a send test's sender (newSender).
type deliverySpec struct {
	obj        client.Object
	kind       string // NotificationTarget or TargetChannel
	ledgerKind string // "nt" or "tc"
	destType   v1alpha1.DestinationType
	dest       *v1alpha1.Destinations // effective destination
	settings   destination.Settings
	tls        *tlsconfig.Config
	route      routing.Spec // what it sees and selects
	custom     map[string]string
	template   string
	skip       bool // skipExistingOnStartup
	dropAfter  time.Duration
	notify     delivery.Notify // how results become messages
	delivery   *v1alpha1.DeliveryStatus
	guard      *addrguard.Guard // nil: unrestricted

	// silences is status.silences as the object has it: the silences' counts continue from it.
	silences []v1alpha1.SilenceStatus
	// console is the operator's --console-url, which messages link to. It is not in the
	// fingerprint: it is the process's, and only a restart, which starts every sender anew,
	// changes it.
	console consolelink.Base
}

// build compiles the filter and, unless the engine already runs this exact configuration,
// builds the sender. Errors are Problems for the object's conditions.
func (s *deliverySpec) build(ctx context.Context, engine *delivery.Engine) (*delivery.Config, error) {
	rt, err := s.route.Compile()
	if err != nil {
		return nil, conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())
	}
	d := &delivery.Config{
		UID: s.obj.GetUID(), Kind: s.kind, Namespace: s.obj.GetNamespace(), Name: s.obj.GetName(),
		LedgerName:    ledger.Name(s.ledgerKind, s.obj.GetName()),
		Owner:         ownerRef(s.obj, s.kind),
		Filter:        rt.Filter,
		Scope:         fingerprint(s.route.Filter, s.route.AllNamespaces),
		CustomFields:  s.custom,
		AllNamespaces: rt.AllNamespaces,
		Created:       s.obj.GetCreationTimestamp().Time,
		SkipExisting:  s.skip,
		DropAfter:     s.dropAfter,
		Notify:        s.notify,
		ConsoleURL:    s.console,
		Delivery:      s.delivery,
		Silences:      s.silences,
		Fingerprint: fingerprint(s.obj.GetUID(), s.dest, settingsList(s.settings), s.tls.CA, s.tls.InsecureSkipVerify, s.route.Filter, s.custom, s.template, s.route.AllNamespaces, s.skip,
			s.dropAfter, guardNetworks(s.guard), s.notify),
	}
	if engine.Fingerprint(d.Ref()) == d.Fingerprint {
		return d, nil // unchanged: keep the running sender and its connections
	}
	if d.Sender, err = s.newSender(ctx); err != nil {
		return nil, err
	}
	return d, nil
}

// newSender builds the destination's sender, restricted by its address guard. Errors are
// Problems for the object's conditions.
func (s *deliverySpec) newSender(ctx context.Context) (sender.Sender, error) {
	cfg := sender.Config{
		Type: s.destType, Destination: s.dest, Settings: s.settings, TLS: s.tls.Config, Guard: s.guard,
		Name: s.obj.GetNamespace() + "/" + s.obj.GetName(), MessageTemplate: s.template,
		AmbientCredentials: s.route.AllNamespaces, // objects of the platform namespace only
		NotifyResolved:     s.notify.NotifyResolved,
		ConsoleURL:         s.console,
	}
	if f := senderConfigForTests.Load(); f != nil {
		cfg = (*f)(cfg)
	}
	snd, err := sender.New(ctx, cfg)
	var notAllowed *addrguard.NotAllowedError
	switch {
	case errors.As(err, &notAllowed):
		return nil, conditions.Stalled(v1alpha1.ReasonAddressNotAllowed, "the destination is refused: "+err.Error())
	case err != nil:
		return nil, conditions.Stalled(v1alpha1.ReasonInvalidSpec, err.Error())
	}
	return snd, nil
}

// senderConfigForTests, set by tests only (export_test.go), adjusts each sender's configuration:
// it points services without an endpoint setting (Slack's Web API) at loopback servers.
var senderConfigForTests atomic.Pointer[func(sender.Config) sender.Config]

// guardNetworks is what of a guard the fingerprint holds, so a change of the policy (or of
// allowPrivateNetworks) rebuilds the sender.
func guardNetworks(g *addrguard.Guard) any {
	if g == nil {
		return nil
	}
	return g.Blocked()
}

func ownerRef(o client.Object, kind string) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion: v1alpha1.GroupVersion.String(), Kind: kind, Name: o.GetName(), UID: o.GetUID(),
		BlockOwnerDeletion: ptr.To(false),
	}
}

// fingerprint hashes its arguments' JSON.
func fingerprint(parts ...any) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, p := range parts {
		_ = enc.Encode(p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func settingsList(s destination.Settings) [][2]string {
	out := make([][2]string, 0, len(s))
	for k, v := range s {
		out = append(out, [2]string{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	return out
}

// mergeFields lays over's keys over base's.
func mergeFields(base, over map[string]string) map[string]string {
	if len(over) == 0 {
		return base
	}
	out := make(map[string]string, len(base)+len(over))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		out[k] = v
	}
	return out
}
