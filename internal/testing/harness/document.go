package harness

import (
	"encoding/json"
	"hash/fnv"
	"io"
)

// Document is the part of the webhook wire format the harnesses read: the result's "id" and
// the fields ResultHash is made of. Anything else the operator sends is ignored.
type Document struct {
	ID       string `json:"id"`
	Policy   string `json:"policy"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
	Resource *struct {
		UID string `json:"uid"`
	} `json:"resource"`
	Report struct {
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"report"`
}

// Decode reads one document. One without an id is a keepalive heartbeat, not a result.
func Decode(r io.Reader) (Document, error) {
	var d Document
	err := json.NewDecoder(r).Decode(&d)
	return d, err
}

// Hash is the ResultHash of the document's result.
func (d *Document) Hash() uint64 {
	uid := ""
	if d.Resource != nil {
		uid = d.Resource.UID
	}
	return ResultHash(d.Report.Namespace, d.Report.Name, uid, d.Policy, d.Rule, d.Message)
}

// ResultHash identifies a result by what the webhook document carries too (report, resource,
// policy, rule, message), so the harness matches deliveries to results without knowing how the
// operator computes its "id". Generated messages are unique per result (and generation).
func ResultHash(reportNS, reportName, uid, policy, rule, message string) uint64 {
	h := fnv.New64a()
	for _, s := range []string{reportNS, reportName, uid, policy, rule, message} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return h.Sum64()
}
