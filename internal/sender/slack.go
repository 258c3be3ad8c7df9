package sender

import "fmt"

// newSlack is being written; until then the destination reports itself as not supported.
func newSlack(cfg Config) (Sender, error) {
	return nil, fmt.Errorf("destination %s is %w", cfg.Type, ErrNotSupported)
}
