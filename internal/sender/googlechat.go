package sender

import "fmt"

// newGoogleChat is being written; until then the destination reports itself as not supported.
func newGoogleChat(cfg Config) (Sender, error) {
	return nil, fmt.Errorf("destination %s is %w", cfg.Type, ErrNotSupported)
}
