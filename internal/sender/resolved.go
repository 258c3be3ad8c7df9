package sender

import (
	"context"
)

// Resolved notices (notifyResolved): a chat sender announces the results it delivered that
// passed or left the cluster, in a short message quoting each result's title as the original
// message showed it. Every chat sender can (it implements announcer); New makes it a Resolver
// only when Config.NotifyResolved is set, since the pipeline keeps a copy of each open result
// for a Resolver, which costs memory for nothing when nobody wants the notices.

// announcer is a chat sender that can announce resolved results.
type announcer interface {
	Sender
	dialer
	// announceResolved sends the resolved notice of b's results, one message per batch
	// (several only where a vendor's size limit requires).
	announceResolved(ctx context.Context, b Batch) error
}

// announcing is a chat sender with notifyResolved: a Resolver.
type announcing struct{ announcer }

// Resolve announces the batch's resolved results.
func (a announcing) Resolve(ctx context.Context, b Batch) error { return a.announceResolved(ctx, b) }

// announcingDigester is an announcing sender that sends digests too.
type announcingDigester struct {
	announcing
	Digester
}

// withResolved makes s a Resolver when it is a chat sender and notify is set.
func withResolved(s Sender, notify bool) Sender {
	a, ok := s.(announcer)
	if !notify || !ok {
		return s
	}
	if d, ok := s.(Digester); ok {
		return announcingDigester{announcing{a}, d}
	}
	return announcing{a}
}
