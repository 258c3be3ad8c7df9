package delivery

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/policyherald/policy-herald/internal/sender"
)

// A long reason in a non-Latin script is cut on a rune boundary: status.delivery must stay
// valid UTF-8 (a byte cut at 256 split "é" here and the API server stored U+FFFD).
func TestFailureReasonCutKeepsRunes(t *testing.T) {
	got := FailureReason(&sender.Error{Reason: "x" + strings.Repeat("é", 300)})
	if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 256 || !strings.HasSuffix(got, "…") {
		t.Errorf("reason %q: valid %v, %d runes", got, utf8.ValidString(got), utf8.RuneCountInString(got))
	}
}
