package sender

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/labelname"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/render"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// loki pushes log lines to Grafana Loki's push API (POST /loki/api/v1/push, JSON):
//
//	{"streams":[{"stream":{"status":"fail","policy":"require-labels",...},
//	             "values":[["1723716000000000123","[HIGH] label app is required"]]}]}
//
// Settings: "url" (the Loki base URL; Secret key or loki.url), loki.path (default
// /loki/api/v1/push, appended to the URL's path; a URL that already ends in the push path is
// used as is), "username" (Secret or loki.username) and "password" (Secret) for basic
// authentication, loki.tenantID sent as X-Scope-OrgID (it wins over an X-Scope-OrgID header),
// loki.headers with every request.
//
// A batch (the new results of one report) is one push, split into several when its body would
// be over lokiMaxBody. Results with the same labels share one stream, their entries in time
// order. Labels: createdBy="policy-herald", status, policy, rule, severity, category, source,
// and the resource's apiVersion, kind, name and namespace, then the target's customFields in
// name order; empty values are left out; names are sanitised to Loki's [a-zA-Z_][a-zA-Z0-9_]*
// and values cut to lokiMaxLabelValue bytes. The result's own labels win over a custom field of
// the same name, and at most lokiMaxLabels labels are sent (Loki's default
// max_label_names_per_series is 15: a stream with more is refused), so custom fields past that
// are left out. Result properties are not labels: their values (digests, times, paths) would
// make a stream per result, which is what Loki's index is not made for.
//
// The line is "[SEVERITY] message" ("[STATUS] message" without a severity), or the rendered
// messageTemplate; at most lokiMaxLine bytes.
//
// Timestamps: the result's time in Unix nanoseconds, unless it is zero, more than
// lokiMaxAge before the send or later than the send: then the time of the send. Loki refuses,
// with a 400 that no retry can fix, entries older than reject_old_samples_max_age (default one
// week) and entries more than max_chunk_age/2 (default one hour) behind the newest entry of
// their stream, and entries too far in the future (creation_grace_period, 10 minutes): a
// producer's time of a result found hours ago (an operator that was down, a re-delivery after
// an outage) would lose the result for good. The time the producer found the result stays in
// the lines of a messageTemplate ({{ .Timestamp }}).
type loki struct {
	*transport.Target
	tmpl *render.Template
	now  func() time.Time
}

const (
	// lokiDefaultPath is the push API under the Loki URL.
	lokiDefaultPath = "/loki/api/v1/push"
	// lokiMaxBatch is how many results one Send takes.
	lokiMaxBatch = 100
	// lokiMaxBody is the most bytes of one push body before it is split. Loki's HTTP server
	// takes much more (its grpc_server_max_recv_msg_size, 4 MiB by default, bounds what the
	// distributor forwards), so 1 MiB keeps every push well under the limits of Loki and of the
	// gateways in front of it.
	lokiMaxBody = 1 << 20
	// lokiMaxLine is the most bytes of one line (Loki's max_line_size defaults to 256 KB).
	lokiMaxLine = 64 << 10
	// lokiMaxLabels is Loki's default max_label_names_per_series.
	lokiMaxLabels = 15
	// lokiMaxLabelName and lokiMaxLabelValue are Loki's max_label_name_length and
	// max_label_value_length defaults.
	lokiMaxLabelName  = 1024
	lokiMaxLabelValue = 2048
	// lokiMaxAge is how far in the past a result's time may be to be the entry's timestamp:
	// Loki's default window for entries behind the newest of their stream.
	lokiMaxAge = time.Hour
)

func init() {
	// tenantID picks the Loki tenant (X-Scope-OrgID) the lines are written to.
	register(newLoki, descriptor.Descriptor{Type: v1alpha1.DestinationLoki,
		Required: []string{"url"}, SecretKeys: []string{"url", "username", "password"},
		Endpoint: []string{"url", "tenantID"}, Credential: []string{"headers", "username", "password"}, Other: []string{"path"}, Template: true})
}

func newLoki(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Loki
	raw := inline.URL
	ep, err := transport.ParseEndpoint("loki url", raw)
	if err != nil {
		return nil, err
	}
	path := inline.Path
	if path != "" && !strings.HasPrefix(path, "/") {
		return nil, errors.New("loki: path must start with /")
	}
	ep = lokiPushEndpoint(ep, path)

	username := inline.Username
	password := cfg.Settings["password"]
	var auth string
	switch {
	case password != "" && username == "":
		return nil, errors.New("loki: a password is set but no username")
	case username != "" && password == "":
		return nil, errors.New("loki: a username is set but the Secret has no password")
	case username != "":
		if strings.Contains(username, ":") {
			return nil, errors.New("loki: the username may not contain ':'")
		}
		auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(username+":"+password))
	}
	tenant := inline.TenantID
	if tenant != "" && !transport.ValidHeaderValue(tenant) {
		return nil, errors.New("loki: tenantID is not a valid header value")
	}
	target, err := transport.NewTarget("loki", ep, cfg.httpClient(), inline.Headers, auth, password, username)
	if err != nil {
		return nil, err
	}
	if auth != "" {
		target.Headers.Set("Authorization", auth)
	}
	if tenant != "" {
		target.Headers.Set("X-Scope-OrgID", tenant)
	}
	tmpl, err := render.NewTemplate(cfg.MessageTemplate)
	if err != nil {
		return nil, fmt.Errorf("loki: %w", err)
	}
	return &loki{Target: target, tmpl: tmpl, now: time.Now}, nil
}

// lokiPushEndpoint is ep with path (or the default push path) appended to its path, unless
// path is empty and ep already points at a push API.
func lokiPushEndpoint(ep *transport.Endpoint, path string) *transport.Endpoint {
	u := *ep.URL
	base := strings.TrimRight(u.Path, "/")
	switch {
	case path == "" && (strings.HasSuffix(base, lokiDefaultPath) || strings.HasSuffix(base, "/api/prom/push")):
		return ep
	case path == "":
		path = lokiDefaultPath
	}
	u.Path = base + path
	u.RawPath = ""
	return transport.EndpointOf(&u)
}

// MaxBatch is lokiMaxBatch.
func (l *loki) MaxBatch() int { return lokiMaxBatch }

// lokiPush is the JSON body of the push API.
type lokiPush struct {
	Streams []lokiStream `json:"streams"`
}

// lokiStream is one stream of a push: its labels and its entries, [timestamp, line] pairs.
type lokiStream struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

// lokiEntry is one result's entry, with the key of its label set.
type lokiEntry struct {
	labels map[string]string
	key    string
	ts     int64
	line   string
	// size bounds what the entry adds to a push body: its stream on its own.
	size int
}

// Send pushes the batch: one push, or several in order when one would be over lokiMaxBody;
// a failure's *Error says in Sent how many results the pushes before it carried.
func (l *loki) Send(ctx context.Context, b Batch) error {
	now := l.now()
	entries := make([]lokiEntry, len(b.Results))
	for i := range b.Results {
		e, err := l.entry(&b, &b.Results[i], now)
		if err != nil {
			return &Error{Reason: "loki: " + err.Error(), Sent: 0}
		}
		entries[i] = e
	}
	start := 0
	for start < len(entries) {
		end, size := start+1, lokiFrame+entries[start].size
		for end < len(entries) && size+entries[end].size <= lokiMaxBody {
			size += entries[end].size
			end++
		}
		if err := l.PostSized(ctx, "loki", lokiBody(entries[start:end]), lokiMaxBody, start); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// lokiFrame bounds the bytes of a push body around its streams ({"streams":[]}).
const lokiFrame = 16

// lokiBody groups entries into streams by label set, streams in the order of their first entry,
// each stream's entries in time order (stable: same times keep the batch's order).
func lokiBody(entries []lokiEntry) lokiPush {
	var push lokiPush
	index := map[string]int{}
	var times [][]int64
	for _, e := range entries {
		i, ok := index[e.key]
		if !ok {
			i = len(push.Streams)
			index[e.key] = i
			push.Streams = append(push.Streams, lokiStream{Stream: e.labels})
			times = append(times, nil)
		}
		push.Streams[i].Values = append(push.Streams[i].Values, [2]string{strconv.FormatInt(e.ts, 10), e.line})
		times[i] = append(times[i], e.ts)
	}
	for i := range push.Streams {
		vs, ts := push.Streams[i].Values, times[i]
		sort.Stable(lokiByTime{vs, ts})
	}
	return push
}

type lokiByTime struct {
	v [][2]string
	t []int64
}

func (s lokiByTime) Len() int           { return len(s.v) }
func (s lokiByTime) Less(i, j int) bool { return s.t[i] < s.t[j] }
func (s lokiByTime) Swap(i, j int) {
	s.v[i], s.v[j] = s.v[j], s.v[i]
	s.t[i], s.t[j] = s.t[j], s.t[i]
}

// entry is the entry of r.
func (l *loki) entry(b *Batch, r *report.Result, now time.Time) (lokiEntry, error) {
	labels := lokiLabels(r, b.CustomFields)
	line, err := l.line(b, r)
	if err != nil {
		return lokiEntry{}, err
	}
	e := lokiEntry{labels: labels, key: lokiKey(labels), ts: lokiTime(r, now), line: line}
	body, err := transport.MarshalJSON(lokiStream{Stream: labels, Values: [][2]string{{strconv.FormatInt(e.ts, 10), line}}})
	if err != nil {
		return lokiEntry{}, err
	}
	e.size = len(body) + 1 // and a comma
	return e, nil
}

// line is "[SEVERITY] message", or the rendered template.
func (l *loki) line(b *Batch, r *report.Result) (string, error) {
	if l.tmpl != nil {
		doc := NewResultDocument(b.Report, r, b.CustomFields)
		s, err := l.tmpl.Render(&doc)
		if err != nil {
			return "", err
		}
		return render.CutBytes(render.PlainText(s), lokiMaxLine), nil
	}
	level := string(r.Severity)
	if level == "" {
		level = string(r.Status)
	}
	return render.CutBytes(render.PlainText("["+strings.ToUpper(level)+"] "+r.Message), lokiMaxLine), nil
}

// lokiTime is the entry's timestamp: the result's time when it is at most lokiMaxAge old and
// not in the future, else now.
func lokiTime(r *report.Result, now time.Time) int64 {
	n := now.UnixNano()
	if r.Time == 0 || r.Time > n || r.Time < now.Add(-lokiMaxAge).UnixNano() {
		return n
	}
	return r.Time
}

// lokiLabels are the stream labels of r.
func lokiLabels(r *report.Result, customFields map[string]string) map[string]string {
	labels := make(map[string]string, lokiMaxLabels)
	add := func(name, value string) {
		if len(labels) >= lokiMaxLabels {
			return
		}
		name = lokiLabelName(name)
		value = render.CutBytes(render.PlainText(value), lokiMaxLabelValue)
		if name == "" || value == "" {
			return
		}
		if _, ok := labels[name]; ok {
			return
		}
		labels[name] = value
	}
	add("createdBy", "policy-herald")
	add("status", string(r.Status))
	add("policy", r.Policy)
	add("rule", r.Rule)
	add("severity", string(r.Severity))
	add("category", r.Category)
	add("source", r.Source)
	if res := r.Resource; res != nil {
		add("apiVersion", res.APIVersion)
		add("kind", res.Kind)
		add("name", res.Name)
		add("namespace", res.Namespace)
	}
	names := make([]string, 0, len(customFields))
	for k := range customFields {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		add(k, customFields[k])
	}
	return labels
}

// lokiLabelName is name with every character outside [a-zA-Z0-9_] replaced by '_', a leading
// digit prefixed with '_', and leading "__" (reserved for Loki's own labels) made one '_'; ""
// when nothing is left. At most lokiMaxLabelName bytes.
func lokiLabelName(name string) string {
	s := labelname.Classic(name)
	if strings.HasPrefix(s, "__") {
		s = "_" + strings.TrimLeft(s, "_")
	}
	if strings.Trim(s, "_") == "" {
		return ""
	}
	if len(s) > lokiMaxLabelName {
		s = s[:lokiMaxLabelName]
	}
	return s
}

// lokiKey identifies a label set.
func lokiKey(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(strconv.Quote(k))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[k]))
		b.WriteByte(',')
	}
	return b.String()
}
