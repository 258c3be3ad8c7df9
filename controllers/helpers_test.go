package controllers_test

import (
	"fmt"
	"sync/atomic"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/conditions"
)

var nsCounter atomic.Int32

// newNamespace creates a namespace with a unique name and the given labels.
func newNamespace(labels map[string]string) string {
	name := fmt.Sprintf("test-%d", nsCounter.Add(1))
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return name
}

func newSecret(namespace, name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, StringData: data}
	Expect(k8sClient.Create(ctx, s)).To(Succeed())
	return s
}

// readyOf returns the Ready condition of obj as last written by its controller, once the
// status describes the current generation.
func readyOf(obj conditions.Object) func(Gomega) metav1.Condition {
	return func(g Gomega) metav1.Condition {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
		c := meta.FindStatusCondition(*obj.GetConditions(), v1alpha1.ConditionReady)
		g.Expect(c).NotTo(BeNil(), "Ready condition not set yet")
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()), "status describes an older generation")
		return *c
	}
}

// haveReady matches a Ready condition by status and reason.
func haveReady(status metav1.ConditionStatus, reason string) OmegaMatcher {
	return And(HaveField("Status", status), HaveField("Reason", reason))
}

// stalledOf returns the Stalled condition of obj, or nil.
func stalledOf(obj conditions.Object) *metav1.Condition {
	return meta.FindStatusCondition(*obj.GetConditions(), v1alpha1.ConditionStalled)
}
