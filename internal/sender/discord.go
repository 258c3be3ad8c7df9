package sender

import "fmt"

// newDiscord is being written; until then the destination reports itself as not supported.
func newDiscord(cfg Config) (Sender, error) {
	return nil, fmt.Errorf("destination %s is %w", cfg.Type, ErrNotSupported)
}
