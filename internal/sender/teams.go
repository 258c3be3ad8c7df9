package sender

import "fmt"

// newTeams is being written; until then the destination reports itself as not supported.
func newTeams(cfg Config) (Sender, error) {
	return nil, fmt.Errorf("destination %s is %w", cfg.Type, ErrNotSupported)
}
