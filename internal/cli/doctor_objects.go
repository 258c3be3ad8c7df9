package cli

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/policyherald/policy-herald/internal/ledger"
)

// checkObjects lists every kind status shows and names each object that is not Ready: FAIL
// when the operator says it is not (a target not delivering), WARN while it has not said.
func (d *doctor) checkObjects(ctx context.Context) error {
	for _, k := range statusKinds {
		if d.denied["list "+k.resource] {
			continue // the permission check said so
		}
		list := k.newList()
		if err := d.cl.c.List(ctx, list, d.inScope()...); err != nil {
			if err := d.cannot(err, k.resource, "list", k.resource+"."+phGroup, d.ns); err != nil {
				return err
			}
			continue
		}
		d.objectChecks(k, k.rows(list))
	}
	return nil
}

// objectChecks adds a line for each object of kind k that is not Ready, else one OK line.
func (d *doctor) objectChecks(k statusKind, rows []statusRow) {
	name := k.resource
	bad := 0
	for _, r := range rows {
		ref := fmt.Sprintf("%s/%s", r.Namespace, r.Name)
		next := fmt.Sprintf("kubectl herald status -n %s -o wide; kubectl describe %s -n %s %s", r.Namespace, k.resource, r.Namespace, r.Name)
		switch r.Ready {
		case metav1.ConditionTrue:
			continue
		case metav1.ConditionFalse:
			d.add(name, checkFail, fmt.Sprintf("%s is not Ready: %s: %s", ref, r.Reason, r.Message), next)
		default:
			d.add(name, checkWarn, ref+" has no Ready condition yet: the operator has not reconciled it",
				"check the operator and its leader lease above; "+next)
		}
		bad++
	}
	if bad == 0 {
		d.add(name, checkOK, fmt.Sprintf("%d %s, all Ready", len(rows), d.where()), "")
	}
}

// inScope are the list options of doctor's namespace.
func (d *doctor) inScope() []client.ListOption {
	if d.ns == "" {
		return nil
	}
	return []client.ListOption{client.InNamespace(d.ns)}
}

// nearFull is the share of a limit above which a ledger is reported as near it.
const nearFull = 0.8

// ledgerSize is what the ledger of one target or channel stores: the ConfigMaps labelled with its UID.
type ledgerSize struct {
	owner       string // kind namespace/name of the target or channel
	total       int    // bytes over every ConfigMap
	largest     int    // bytes of the largest ConfigMap
	largestName string
	configMaps  int
}

// share is how full the ledger is: of the most its ConfigMaps may hold together
// (ledger.MaxShards of ledger.MaxBytes), or its fullest ConfigMap of ledger.MaxBytes, whichever
// is nearer. A shard over the limit cannot be written, and results would be sent again.
func (l ledgerSize) share() float64 {
	return max(float64(l.total)/float64(ledger.MaxShards*ledger.MaxBytes), float64(l.largest)/float64(ledger.MaxBytes))
}

// checkLedgers reads the size of every ledger (internal/ledger stores each in ConfigMaps
// labelled with the UID of its target or channel) and WARNs for each above nearFull of its limit.
func (d *doctor) checkLedgers(ctx context.Context) error {
	var cms corev1.ConfigMapList
	if err := d.cl.c.List(ctx, &cms, append(d.inScope(), client.HasLabels{ledger.LabelOwner})...); err != nil {
		return d.cannot(err, "ledgers", "list", "configmaps", d.ns)
	}
	sizes := ledgerSizes(cms.Items)
	var largest ledgerSize
	for _, uid := range sortedKeys(sizes) {
		l := sizes[uid]
		if l.share() > largest.share() {
			largest = l
		}
		if l.share() >= nearFull {
			d.add("ledgers", checkWarn, fmt.Sprintf("the ledger of %s is %.0f%% full: %s in %d ConfigMaps, the largest %s of %s (%s)",
				l.owner, 100*l.share(), kib(l.total), l.configMaps, kib(l.largest), kib(ledger.MaxBytes), l.largestName),
				"narrow what the target or channel delivers (its filters) or split it into several: its ledger keeps one key per result delivered")
		}
	}
	if len(sizes) == 0 {
		d.add("ledgers", checkOK, "no ledgers "+d.where(), "")
	} else if largest.share() < nearFull {
		d.add("ledgers", checkOK, fmt.Sprintf("%d %s; the fullest, of %s, is %.0f%% full", len(sizes), d.where(), largest.owner, 100*largest.share()), "")
	}
	return nil
}

// ledgerSizes adds up the ConfigMaps of each ledger, by owner UID.
func ledgerSizes(cms []corev1.ConfigMap) map[string]ledgerSize {
	out := map[string]ledgerSize{}
	for i := range cms {
		cm := &cms[i]
		uid := cm.Labels[ledger.LabelOwner]
		l := out[uid]
		if l.owner == "" {
			l.owner = "ConfigMap " + cm.Namespace + "/" + cm.Name
			for _, ref := range cm.OwnerReferences {
				l.owner = fmt.Sprintf("%s %s/%s", ref.Kind, cm.Namespace, ref.Name)
			}
		}
		n := configMapBytes(cm)
		l.total += n
		l.configMaps++
		if n > l.largest {
			l.largest, l.largestName = n, cm.Name
		}
		out[uid] = l
	}
	return out
}

// configMapBytes is what a ConfigMap's data weighs, as the API server counts it against 1 MiB.
func configMapBytes(cm *corev1.ConfigMap) (n int) {
	for k, v := range cm.Data {
		n += len(k) + len(v)
	}
	for k, v := range cm.BinaryData {
		n += len(k) + len(v)
	}
	return n
}

func kib(n int) string { return fmt.Sprintf("%d KiB", (n+1023)/1024) }
