package controllers

import "github.com/policyherald/policy-herald/internal/sender"

// SetSenderConfigForTests makes every sender built from now on use f's configuration (nil: as
// configured); what the suite (package controllers_test) points at loopback servers with.
func SetSenderConfigForTests(f func(sender.Config) sender.Config) {
	if f == nil {
		senderConfigForTests.Store(nil)
		return
	}
	senderConfigForTests.Store(&f)
}
