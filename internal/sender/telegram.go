package sender

import "fmt"

// newTelegram is being written; until then the destination reports itself as not supported.
func newTelegram(cfg Config) (Sender, error) {
	return nil, fmt.Errorf("destination %s is %w", cfg.Type, ErrNotSupported)
}
