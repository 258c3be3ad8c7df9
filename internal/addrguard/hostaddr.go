package addrguard

import (
	"net/netip"
	"strconv"
	"strings"
)

// How the address guard reads a destination's host before it decides. The operator's own
// resolver (Go's, as the image is built without cgo) reads "127.1" or "0x7f000001" as a name
// and fails to find it, but glibc's resolver, a proxy and curl-like clients read it as
// 127.0.0.1: the guard takes a host for whatever address any of them would.

// hostAddr is the address host denotes by itself, without name resolution: an IP literal
// (brackets and a zone allowed), an IPv4 address in any notation inet_aton(3) or the WHATWG URL
// Standard's IPv4 parser accepts (one to four parts, each decimal, octal with a leading 0 or hex
// with 0x), with or without a trailing dot.
func hostAddr(host string) (netip.Addr, bool) {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if a, err := netip.ParseAddr(host); err == nil {
		return a, true
	}
	return parseIPv4Numbers(strings.TrimSuffix(host, "."))
}

// parseIPv4Numbers reads s as one to four numbers: each but the last is a byte, the last fills
// the remaining bytes ("127.1" is 127.0.0.1, "2130706433" too).
func parseIPv4Numbers(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var v uint64
	for i, p := range parts {
		n, ok := parseIPv4Number(p)
		if !ok {
			return netip.Addr{}, false
		}
		last := i == len(parts)-1
		if !last && n > 0xff || last && n >= 1<<(8*(4-i)) {
			return netip.Addr{}, false
		}
		if last {
			v |= n
		} else {
			v |= n << (8 * (3 - i))
		}
	}
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// parseIPv4Number reads one part: hex after 0x or 0X ("0x" alone is 0, as the URL Standard has
// it), octal after a leading 0, else decimal; at most 32 bits, no sign, no digit separators.
func parseIPv4Number(p string) (uint64, bool) {
	base := 10
	switch {
	case strings.HasPrefix(p, "0x") || strings.HasPrefix(p, "0X"):
		base, p = 16, p[2:]
		if p == "" {
			return 0, true
		}
	case len(p) > 1 && p[0] == '0':
		base, p = 8, p[1:]
	}
	n, err := strconv.ParseUint(p, base, 32)
	return n, err == nil
}

// isLocalhostName tells the names RFC 6761 reserves for loopback: "localhost" and every name
// under it, in any letter case, with or without a trailing dot. Resolvers and proxies answer
// them with a loopback address whether or not the operator's resolver knows them, so the guard
// resolves them as "localhost".
func isLocalhostName(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	return h == "localhost" || strings.HasSuffix(h, ".localhost")
}
