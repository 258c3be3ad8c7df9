// Package consolelink makes the addresses of the console's pages, for the console itself and for
// the messages that link to it (chat messages, digests, e-mail reports with --console-url).
package consolelink

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// PolicyPath is the path of a policy's page.
func PolicyPath(name string) string { return "/policies/" + url.PathEscape(name) }

// NamespacePath is the path of a namespace's page.
func NamespacePath(namespace string) string { return "/namespaces/" + url.PathEscape(namespace) }

// ResourcePath is the path of a resource's page; "" when kind or name is unknown.
func ResourcePath(namespace, kind, name string) string {
	if kind == "" || name == "" {
		return ""
	}
	p := "/resources/" + url.PathEscape(kind) + "/" + url.PathEscape(name)
	if namespace != "" {
		p = NamespacePath(namespace) + p
	}
	return p
}

// Base is the console's external address (the operator's --console-url); empty when there is
// none, and then every link is "".
type Base string

// Parse checks raw, the console's external address (--console-url), and returns it as a Base:
// empty, or an absolute http(s) URL with a host, and a path if the console is served under one.
// It refuses user info, a query and a fragment: the address goes into every message, and
// credentials in it would go with it.
func Parse(raw string) (Base, error) {
	if raw == "" {
		return "", nil
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		// Not raw: user info in it would be shown (url.Error quotes the whole URL).
		return "", fmt.Errorf("the console URL is not a URL: %w", errors.Unwrap(err))
	case u.User != nil:
		return "", errors.New("the console URL must not hold user info: it is shown in every message")
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "":
		return "", fmt.Errorf("the console URL %q must be an absolute http(s) URL, such as https://herald.example.com", raw)
	case u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		return "", fmt.Errorf("the console URL %q must not have a query or a fragment", raw)
	}
	return Base(strings.TrimSuffix(u.String(), "/")), nil
}

// To returns the absolute address of path; "" when b or path is empty.
func (b Base) To(path string) string {
	if b == "" || path == "" {
		return ""
	}
	return strings.TrimSuffix(string(b), "/") + path
}

// Policy is the address of a policy's page.
func (b Base) Policy(name string) string { return b.To(PolicyPath(name)) }

// Namespace is the address of a namespace's page.
func (b Base) Namespace(namespace string) string { return b.To(NamespacePath(namespace)) }

// Resource is the address of a resource's page.
func (b Base) Resource(namespace, kind, name string) string {
	return b.To(ResourcePath(namespace, kind, name))
}
