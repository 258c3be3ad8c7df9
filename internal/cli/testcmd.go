package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// testable is what a test message is sent through: a NotificationTarget or a TargetChannel.
type testable struct {
	kind, resource string
	obj            client.Object
	lastTest       func() *v1alpha1.TestMessageStatus
}

func targetTestable() testable {
	t := &v1alpha1.NotificationTarget{}
	return testable{"NotificationTarget", "notificationtargets", t, func() *v1alpha1.TestMessageStatus { return t.Status.LastTest }}
}

func channelTestable() testable {
	c := &v1alpha1.TargetChannel{}
	return testable{"TargetChannel", "targetchannels", c, func() *v1alpha1.TestMessageStatus { return c.Status.LastTest }}
}

type testFlags struct{ timeout time.Duration }

func newTestCmd(o *Options) *cobra.Command {
	f := &testFlags{}
	cmd := &cobra.Command{
		Use:   "test TARGET",
		Short: "Send a test message through a NotificationTarget and print the outcome",
		Long: `Ask the operator to send one clearly marked test message through a NotificationTarget
(or, with "test channel", a TargetChannel) and wait until it records the outcome in the
object's status.lastTest. It sets the annotation ` + v1alpha1.AnnotationSendTest + ` to a new value,
so it needs permission to patch the object, and to get it. A test message is never counted as
a delivered result.`,
		Example: `  kubectl herald test platform-webhook -n policy-herald-system
  kubectl herald test channel team-a -n policy-herald-system --timeout 1m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.runTest(cmd.Context(), targetTestable(), args[0], f.timeout)
		},
	}
	channel := &cobra.Command{
		Use:     "channel NAME",
		Short:   "Send a test message through a TargetChannel and print the outcome",
		Example: `  kubectl herald test channel team-a -n policy-herald-system`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.runTest(cmd.Context(), channelTestable(), args[0], f.timeout)
		},
	}
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the outcome")
	cmd.AddCommand(channel)
	return cmd
}

func (o *Options) runTest(ctx context.Context, tt testable, name string, timeout time.Duration) error {
	sc, err := (&readFlags{}).scope(o)
	if err != nil {
		return err
	}
	cl, err := o.connectOperator()
	if err != nil {
		return err
	}
	ref := strings.ToLower(tt.kind) + "/" + name
	tt.obj.SetNamespace(sc.namespace)
	tt.obj.SetName(name)
	value, err := newTestValue(o.Now())
	if err != nil {
		return err
	}
	resource := tt.resource + "." + v1alpha1.GroupVersion.Group
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{v1alpha1.AnnotationSendTest: value}}})
	if err := cl.c.Patch(ctx, tt.obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s not found in namespace %q", ref, sc.namespace)
		}
		return cl.explain(err, "patch", resource, sc.namespace)
	}
	got, err := cl.waitTest(ctx, tt, value, timeout)
	if err != nil {
		return cl.explain(err, "get", resource, sc.namespace)
	}
	return reportTest(o, ref, value, timeout, got)
}

// newTestValue is a value never used before: the time, and random bits for two people asking
// in the same second.
func newTestValue(now time.Time) (string, error) {
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b), nil
}

// testPoll is how often the status is read while waiting.
const testPoll = 250 * time.Millisecond

// waitTest reads tt's object until status.lastTest answers value or timeout passes; it returns
// the last lastTest read (nil if none).
func (cl *cluster) waitTest(ctx context.Context, tt testable, value string, timeout time.Duration) (*v1alpha1.TestMessageStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *v1alpha1.TestMessageStatus
	for {
		err := cl.c.Get(ctx, client.ObjectKeyFromObject(tt.obj), tt.obj)
		if ctx.Err() != nil {
			return last, nil
		}
		if err != nil {
			return nil, err
		}
		if last = tt.lastTest(); last != nil && last.Value == value {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(testPoll):
		}
	}
}

// reportTest prints the outcome; a failed test and a timeout are errors (exit status 1).
func reportTest(o *Options, ref, value string, timeout time.Duration, got *v1alpha1.TestMessageStatus) error {
	switch {
	case got == nil || got.Value != value:
		was := "no test recorded"
		if got != nil {
			was = fmt.Sprintf("the last recorded is %q", got.Value)
		}
		return fmt.Errorf("%s: still pending after %s: the operator has not recorded test %q in status.lastTest (%s); is the operator running? (kubectl herald status)",
			ref, timeout, value, was)
	case got.Outcome == v1alpha1.TestSucceeded:
		fmt.Fprintf(o.Streams.Out, "%s: test message Succeeded%s\n", ref, withReason(got.Reason))
		return nil
	}
	return errors.New(ref + ": test message " + orNone(string(got.Outcome)) + withReason(got.Reason))
}

func withReason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + oneLine(r)
}
