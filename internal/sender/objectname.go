package sender

import "strings"

// emptyNamePart stands for a name with nothing in it (a result's policy may be ""): an
// object name needs something between its '/' and '-'.
const emptyNamePart = "_"

// objectNamePart makes s safe inside an S3 key or GCS object name: letters, digits, '.', '-'
// and '_' are kept, anything else (a '/' that would open a folder, spaces, the wildcards of
// gcloud, non-ASCII) becomes '_'; at most max bytes; emptyNamePart when s is "".
func objectNamePart(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= max {
			break
		}
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return emptyNamePart
	}
	return b.String()
}
