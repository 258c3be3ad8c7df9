package delivery

// limit holds the results of it for the next summary when the rate limit allows no message
// now; it returns false when none is left to send now.
// TODO(issue 22): a limiter per pipeline, summaries (sender.Digester), outcomeSummarised.
func (p *pipeline) limit(it *item) bool { return len(it.hashes) > 0 }
