package login

import (
	"net/url"
	"strings"
)

// localPath returns next when it is a path on this console, else "/": where a login returns to
// is never another site (no open redirect). "//host" and "/\host" are other sites to browsers.
func localPath(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.ContainsAny(next, "\\\r\n\t") {
		return "/"
	}
	return next
}
