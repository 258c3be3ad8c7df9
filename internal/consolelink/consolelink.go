// Package consolelink makes the addresses of the console's pages, for the console itself and for
// the messages that link to it (chat messages, digests, e-mail reports with --console-url).
package consolelink

import (
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
