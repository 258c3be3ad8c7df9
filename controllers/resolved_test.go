package controllers_test

import (
	"encoding/json"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/controllers"
	"github.com/policyherald/policy-herald/internal/ledger"
	"github.com/policyherald/policy-herald/internal/sender"
	"github.com/policyherald/policy-herald/internal/testing/slackapi"
)

const slackBotToken = "xoxb-1-2-SuiteSlackBotToken"

// ledgerClaim is the claim in the header of the ledger ConfigMap name of ns (0 without one):
// it grows when a new leader's pipeline takes the ledger over.
func ledgerClaim(ns, name string) uint64 {
	var cm corev1.ConfigMap
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &cm); err != nil {
		return 0
	}
	var h struct {
		Claim uint64 `json:"claim"`
	}
	_ = json.Unmarshal([]byte(cm.Data["header.json"]), &h)
	return h.Claim
}

var _ = Describe("Resolved notices", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace(nil) })

	// A loopback Slack Web API checks the contract (bot token, JSON, channel, thread_ts of a
	// message it posted); the operator's Slack senders of a bot token talk to it.
	startSlackAPI := func() *slackapi.Server {
		api := slackapi.Start(GinkgoT(), slackBotToken)
		controllers.SetSenderConfigForTests(func(c sender.Config) sender.Config {
			if c.Type == v1alpha1.DestinationSlack && c.Settings["token"] != "" {
				return sender.WithTestAPIEndpoint(c, api.URL)
			}
			return c
		})
		DeferCleanup(func() { controllers.SetSenderConfigForTests(nil) })
		return api
	}
	// replies are the threaded replies the API got: thread_ts of each.
	replies := func(api *slackapi.Server) func() []string {
		return func() []string {
			var out []string
			for _, c := range api.Calls() {
				if c.Method == "chat.postMessage" && c.Error == "" && c.Message.ThreadTimestamp != "" {
					out = append(out, c.Message.Channel+" "+c.Message.ThreadTimestamp)
				}
			}
			return out
		}
	}
	reactions := func(api *slackapi.Server) func() []string {
		return func() []string {
			var out []string
			for _, c := range api.Calls() {
				if c.Method == "reactions.add" && c.Error == "" {
					out = append(out, c.Reaction.Channel+" "+c.Reaction.Timestamp+" "+c.Reaction.Name)
				}
			}
			return out
		}
	}

	It("answers a Slack message in its thread, also after an operator restart", func() {
		api := startSlackAPI()
		newSecret(ns, "slack-bot", map[string]string{"token": slackBotToken})
		t := slackTarget(ns, "slack", "slack-bot")
		t.Spec.Slack.Channel = "#policy"
		t.Spec.NotifyResolved = ptr.To(true)
		readyTarget(t)

		rep := createReport(ns, "pod-nginx", result(ns, "p1", "fail", "one"), result(ns, "p2", "fail", "two"))
		var original string
		Eventually(func(g Gomega) {
			calls := api.Calls()
			g.Expect(calls).To(HaveLen(1))
			g.Expect(calls[0].Error).To(BeEmpty())
			g.Expect(calls[0].Message.Channel).To(Equal("#policy"))
			original = calls[0].TS
		}).Should(Succeed())

		By("a result that passes now is answered in the message's thread; the other is still open")
		setResults(rep, result(ns, "p1", "pass", "one fixed"), result(ns, "p2", "fail", "two"))
		Eventually(replies(api)).Should(Equal([]string{"CPOLICY " + original}))
		Consistently(reactions(api), quiet).Should(BeEmpty())

		By("after a restart, the thread comes from the ledger")
		claim := ledgerClaim(ns, ledger.Name("nt", "slack"))
		stopManager()
		startManager()
		// The new leader's pipeline runs (it claimed the ledger) and saw p2 open before p2 passes.
		Eventually(func() uint64 { return ledgerClaim(ns, ledger.Name("nt", "slack")) }).Should(BeNumerically(">", claim))
		setResults(rep, result(ns, "p1", "pass", "one fixed"), result(ns, "p2", "pass", "two fixed"))
		Eventually(replies(api)).Should(Equal([]string{"CPOLICY " + original, "CPOLICY " + original}))
		Eventually(reactions(api)).Should(Equal([]string{"CPOLICY " + original + " white_check_mark"}))
		for _, c := range api.Calls() {
			Expect(c.Error).To(BeEmpty(), "the API refused %s: %s", c.Method, c.Body)
			Expect(c.Header.Get("Authorization")).To(Equal("Bearer " + slackBotToken))
		}
	})
})
