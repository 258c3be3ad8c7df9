package delivery

import (
	"slices"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/filter"
)

// Silences mute the results they match while the pipeline's clock is before their until. A
// muted result is recorded as handled (outcomeMuted), not queued for later: once a silence
// expires, only results found after are sent. A result two silences match is counted by the
// first (the target's before the channel's, in spec order), so the silences' counts add up to
// status.delivery.muted.
//
// status.silences is written by the pipeline, with status.delivery and by the same periodic
// writer (record.go), and by no one else: the controller's merge patches never hold it. Its
// state follows the clock at each write, so a silence shows Expired at most StatusInterval
// after its until, with no other event. Counts continue from the status the object had (they
// are not in the ledger): a crash may lose the muting of the last StatusInterval from them,
// never from status.delivery.muted, which the ledger keeps.

// silenceSet is the silences of one configuration, compiled once.
type silenceSet struct {
	cfg  *Config // the configuration they were compiled for
	list []silence
}

type silence struct {
	name  string
	until time.Time
	match *filter.Silence
}

// silences returns the current configuration's silences, compiling them on its first use.
func (p *pipeline) silences() *silenceSet {
	d := p.config()
	if s := p.muting.Load(); s != nil && s.cfg == d {
		return s
	}
	s := &silenceSet{cfg: d}
	for _, v := range d.Notify.Silences {
		m, err := filter.CompileSilence(v.Match)
		if err != nil {
			// The controller refuses such a silence before it gets here; muting by half of
			// one would hide results no one meant to hide.
			p.log.Error(err, "ignoring a silence that does not compile", "silence", v.Name)
			continue
		}
		s.list = append(s.list, silence{name: v.Name, until: v.Until.Time, match: m})
	}
	p.stats.keepSilences(d.Notify.Silences) // a silence removed and added again starts over, as after a restart
	p.muting.Store(s)
	return s
}

// mute records the results of it that an active silence matches, counted per silence; it
// returns false when none is left.
func (p *pipeline) mute(it *item) bool {
	ss := p.silences()
	if len(ss.list) == 0 {
		return len(it.hashes) > 0
	}
	now := p.now()
	active := make([]*silence, 0, len(ss.list))
	for i := range ss.list {
		if now.Before(ss.list[i].until) {
			active = append(active, &ss.list[i])
		}
	}
	if len(active) == 0 {
		return len(it.hashes) > 0
	}
	var muted map[string]int64 // by silence; nil while none matched
	left := p.take(it, outcomeMuted, func(i int) bool {
		for _, s := range active {
			if s.match.Match(it.batch.Report.Namespace, &it.batch.Results[i]) {
				if muted == nil {
					muted = map[string]int64{}
				}
				muted[s.name]++
				return true
			}
		}
		return false
	})
	if muted != nil {
		p.stats.muted(muted)
	}
	return left
}

// silenceStatus is status.silences at now: every silence in effect, in spec order, with its
// state and what it muted; nil without silences.
func (p *pipeline) silenceStatus(now time.Time) []v1alpha1.SilenceStatus {
	list := p.config().Notify.Silences
	if len(list) == 0 {
		return nil
	}
	counts := p.stats.mutedBySilence()
	out := make([]v1alpha1.SilenceStatus, len(list))
	for i, s := range list {
		state := v1alpha1.SilenceActive
		if !now.Before(s.Until.Time) {
			state = v1alpha1.SilenceExpired
		}
		out[i] = v1alpha1.SilenceStatus{Name: s.Name, State: state, Until: s.Until, Muted: counts[s.Name]}
	}
	return out
}

func equalSilences(a, b []v1alpha1.SilenceStatus) bool {
	return slices.EqualFunc(a, b, func(x, y v1alpha1.SilenceStatus) bool {
		return x.Name == y.Name && x.State == y.State && x.Muted == y.Muted && timeEqual(&x.Until, &y.Until)
	})
}
