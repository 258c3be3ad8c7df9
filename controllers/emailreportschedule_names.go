package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// maxCronJobName is the longest CronJob name the API server takes: the CronJob controller
// appends 11 characters to name its Jobs, which must stay within 63.
const maxCronJobName = 52

// CronJobName names the CronJob of the EmailReportSchedule namespace/name in the platform
// namespace: "ers-", a readable part (namespace-name, cut to fit) and a short hash of
// namespace/name, which keeps the names of every namespace's schedules apart.
func CronJobName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "/" + name))
	hash := hex.EncodeToString(sum[:])[:8]
	readable := dnsLabel(namespace + "-" + name)
	if room := maxCronJobName - len("ers-") - len("-") - len(hash); len(readable) > room {
		readable = strings.TrimRight(readable[:room], "-")
	}
	return "ers-" + readable + "-" + hash
}

// SendNowJobName names the one-off Job of cronJob for the send-now value: at most 63
// characters (a label value: the job-name label of its Pods), one Job per value.
func SendNowJobName(cronJob, value string) string {
	sum := sha256.Sum256([]byte(value))
	return cronJob + "-now-" + hex.EncodeToString(sum[:])[:6]
}

// dnsLabel keeps the lower-case letters, digits and dashes of s ('.' becomes '-').
func dnsLabel(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			b.WriteRune(r)
		case r == '.':
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}
