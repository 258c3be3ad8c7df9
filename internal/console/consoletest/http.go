package consoletest

import (
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// Get sends GET url with c as the person whose token it is ("" for nobody) and returns the
// response, its body read and closed.
func Get(c *http.Client, url, token string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return nil, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// WaitOK polls url with token until it answers 200, for at most 30s.
func WaitOK(url, token string) error {
	var err error
	if wait.Until(30*time.Second, func() bool {
		var resp *http.Response
		if resp, _, err = Get(http.DefaultClient, url, token); err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		return err == nil
	}) {
		return nil
	}
	return fmt.Errorf("%s did not answer 200: %w", url, err)
}

// Access is what GET /api/v1/access answers, as the tests read it off the wire.
type Access struct {
	User struct {
		Name   string   `json:"name"`
		Groups []string `json:"groups"`
	} `json:"user"`
	Namespaced map[string]struct {
		All        bool     `json:"all"`
		Namespaces []string `json:"namespaces"`
	} `json:"namespaced"`
	Cluster map[string]bool `json:"cluster"`
	Empty   bool            `json:"empty"`
	Reason  string          `json:"reason"`
}
