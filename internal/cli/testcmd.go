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
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
)

// SendTestAnnotation asks the operator to send one test message through a NotificationTarget
// or TargetChannel; it answers in status.lastTest with the annotation's value.
const SendTestAnnotation = "reporting.policyherald.io/send-test"

// lastTest is status.lastTest as the operator writes it. It is read without the API type, so
// the plugin works with any operator version that writes these fields.
type lastTest struct {
	Value   string `json:"value"`
	Outcome string `json:"outcome"` // Succeeded or Failed
	Reason  string `json:"reason"`
}

type testFlags struct{ timeout time.Duration }

func newTestCmd(o *Options) *cobra.Command {
	f := &testFlags{}
	cmd := &cobra.Command{
		Use:   "test TARGET",
		Short: "Send a test message through a NotificationTarget and print the outcome",
		Long: `Ask the operator to send one clearly marked test message through a NotificationTarget
(or, with "test channel", a TargetChannel) and wait until it records the outcome in the
object's status.lastTest. It sets the annotation ` + SendTestAnnotation + ` to a new value,
so it needs permission to patch the object, and to get it. A test message is never counted as
a delivered result.`,
		Example: `  kubectl herald test platform-webhook -n policy-herald-system
  kubectl herald test channel team-a -n policy-herald-system --timeout 1m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.runTest(cmd.Context(), "NotificationTarget", "notificationtargets", args[0], f.timeout)
		},
	}
	channel := &cobra.Command{
		Use:     "channel NAME",
		Short:   "Send a test message through a TargetChannel and print the outcome",
		Example: `  kubectl herald test channel team-a -n policy-herald-system`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.runTest(cmd.Context(), "TargetChannel", "targetchannels", args[0], f.timeout)
		},
	}
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for the outcome")
	cmd.AddCommand(channel)
	return cmd
}

func (o *Options) runTest(ctx context.Context, kind, resource, name string, timeout time.Duration) error {
	sc, err := (&readFlags{}).scope(o)
	if err != nil {
		return err
	}
	cl, err := o.connect()
	if err != nil {
		return err
	}
	if err := cl.checkOperator(); err != nil {
		return err
	}
	ref := strings.ToLower(kind) + "/" + name
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(operatorGV)
	obj.SetKind(kind)
	obj.SetNamespace(sc.namespace)
	obj.SetName(name)
	value, err := newTestValue(o.Now())
	if err != nil {
		return err
	}
	resource += "." + v1alpha1.GroupVersion.Group
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{SendTestAnnotation: value}}})
	if err := cl.c.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%s not found in namespace %q", ref, sc.namespace)
		}
		return cl.explain(err, "patch", resource, sc.namespace)
	}
	got, err := cl.waitTest(ctx, obj, value, timeout)
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

// waitTest reads obj until status.lastTest answers value or timeout passes; it returns the
// last lastTest read (nil if none).
func (cl *cluster) waitTest(ctx context.Context, obj *unstructured.Unstructured, value string, timeout time.Duration) (*lastTest, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last *lastTest
	for {
		err := cl.c.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if ctx.Err() != nil {
			return last, nil
		}
		if err != nil {
			return nil, err
		}
		if last = readLastTest(obj); last != nil && last.Value == value {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, nil
		case <-time.After(testPoll):
		}
	}
}

func readLastTest(obj *unstructured.Unstructured) *lastTest {
	m, ok, _ := unstructured.NestedMap(obj.Object, "status", "lastTest")
	if !ok {
		return nil
	}
	lt := &lastTest{}
	lt.Value, _, _ = unstructured.NestedString(m, "value")
	lt.Outcome, _, _ = unstructured.NestedString(m, "outcome")
	lt.Reason, _, _ = unstructured.NestedString(m, "reason")
	return lt
}

// reportTest prints the outcome; a failed test and a timeout are errors (exit status 1).
func reportTest(o *Options, ref, value string, timeout time.Duration, got *lastTest) error {
	switch {
	case got == nil || got.Value != value:
		was := "no test recorded"
		if got != nil {
			was = fmt.Sprintf("the last recorded is %q", got.Value)
		}
		return fmt.Errorf("%s: still pending after %s: the operator has not recorded test %q in status.lastTest (%s); is the operator running? (kubectl herald status)",
			ref, timeout, value, was)
	case got.Outcome == "Succeeded":
		fmt.Fprintf(o.Streams.Out, "%s: test message Succeeded%s\n", ref, withReason(got.Reason))
		return nil
	}
	return errors.New(ref + ": test message " + orNone(got.Outcome) + withReason(got.Reason))
}

func withReason(r string) string {
	if r == "" {
		return ""
	}
	return ": " + oneLine(r)
}
