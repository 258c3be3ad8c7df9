package sender

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/testing/testservers"
)

// The Kinesis tests deliver to a real kinesalite (npm, MIT; built by hack/test-servers.sh) and
// read the records back from every shard. Per-record failures, which kinesalite never produces,
// are tested against a loopback server that checks each PutRecords request against the API's
// contract (X-Amz-Target, content type, the JSON shape, decoded strictly) and answers as
// Kinesis does.

// startKinesalite runs kinesalite on a loopback port until the test ends and returns its URL.
// It is ready when a TCP connection succeeds (it has no health URL).
func startKinesalite(t *testing.T) string {
	t.Helper()
	dir := serverPath(t, "kinesalite")
	addr := "127.0.0.1:" + loopbackPort(t)
	testservers.StartListening(t, addr, dir, "node", filepath.Join(dir, "kinesalite-local.js"), strings.TrimPrefix(addr, "127.0.0.1:"))
	return "http://" + addr
}

func kinesisReader(endpoint string) *awskinesis.Client {
	return awskinesis.New(awskinesis.Options{
		Region: "eu-west-1", BaseEndpoint: aws.String(endpoint),
		Credentials: credentials.NewStaticCredentialsProvider("reader", "reader-secret", ""),
	})
}

// createStream creates name with shards shards and waits until it is ACTIVE.
func createStream(t *testing.T, c *awskinesis.Client, name string, shards int32) {
	t.Helper()
	ctx := context.Background()
	if _, err := c.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		out, err := c.DescribeStream(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String(name)})
		if err == nil && out.StreamDescription.StreamStatus == ktypes.StreamStatusActive {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s not active: %v", name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// streamRecords reads every record of every shard, grouped by shard.
func streamRecords(t *testing.T, c *awskinesis.Client, name string) map[string][]ktypes.Record {
	t.Helper()
	ctx := context.Background()
	shards, err := c.ListShards(ctx, &awskinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("ListShards: %v", err)
	}
	out := map[string][]ktypes.Record{}
	for _, sh := range shards.Shards {
		it, err := c.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: sh.ShardId, ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatalf("GetShardIterator: %v", err)
		}
		recs, err := c.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		out[aws.ToString(sh.ShardId)] = recs.Records
	}
	return out
}

// TestKinesisPutsRecordsOnKinesalite: one record per result, data its ResultDocument, the
// records of one resource on one shard in order.
func TestKinesisPutsRecordsOnKinesalite(t *testing.T) {
	isolateAWSEnv(t)
	endpoint := startKinesalite(t)
	reader := kinesisReader(endpoint)
	createStream(t, reader, "policy-results", 4)

	first, second := fullResult(), fullResult()
	second.Hash, second.Message = 0xb1, "second result of the same deployment"
	other := fullResult()
	other.Hash, other.Resource = 0xc1, &report.Resource{APIVersion: "v1", Kind: "Pod", Namespace: "test", Name: "web-0"}
	b := Batch{Report: testReport, Results: []report.Result{first, bareResult(), second, other}, CustomFields: map[string]string{"cluster": "prod-eu"}}

	cfg := awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "policy-results"}, endpoint)
	s, err := newGuarded(context.Background(), cfg, loopbackAllowed())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(context.Background(), b); err != nil {
		t.Fatal(err)
	}

	wantKey := map[string]string{"a1": "5d2c", "b1": "5d2c", "a2": "test/rep-1", "c1": "Pod/test/web-0"}
	byShard := streamRecords(t, reader, "policy-results")
	seen := map[string]bool{}
	for shard, recs := range byShard {
		var ids []string
		for _, rec := range recs {
			var doc ResultDocument
			dec := json.NewDecoder(strings.NewReader(string(rec.Data)))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%s: %v: %s", shard, err, rec.Data)
			}
			if pk := aws.ToString(rec.PartitionKey); pk != wantKey[doc.ID] {
				t.Errorf("result %s: partition key %q, want %q", doc.ID, pk, wantKey[doc.ID])
			}
			var want ResultDocument
			for i := range b.Results {
				if b.Results[i].ID() == doc.ID {
					want = NewResultDocument(b.Report, &b.Results[i], b.CustomFields)
				}
			}
			wj, _ := json.Marshal(want)
			if string(wj) != string(rec.Data) {
				t.Errorf("record %s:\n got %s\nwant %s", doc.ID, rec.Data, wj)
			}
			seen[doc.ID] = true
			ids = append(ids, doc.ID)
		}
		if strings.Contains(strings.Join(ids, ","), "a1") && strings.Contains(strings.Join(ids, ","), "b1") &&
			strings.Index(strings.Join(ids, ","), "a1") > strings.Index(strings.Join(ids, ","), "b1") {
			t.Errorf("shard %s: the deployment's records out of order: %v", shard, ids)
		}
	}
	if len(seen) != 4 {
		t.Fatalf("records on the stream: %v", seen)
	}

	// A stream that does not exist is refused for good.
	cfg.Settings["streamName"] = "missing"
	e := asError(t, newTestSender(t, cfg).Send(context.Background(), b))
	if e.Retryable || !strings.Contains(e.Reason, "ResourceNotFoundException") {
		t.Fatalf("missing stream: %#v", e)
	}
}

// kinesisPutRecords mirrors the PutRecords request of the API reference.
type kinesisPutRecords struct {
	StreamName string
	StreamARN  string `json:",omitempty"`
	Records    []struct {
		Data            string // base64
		PartitionKey    string
		ExplicitHashKey string `json:",omitempty"`
	}
}

// kinesisContract checks a request against the PutRecords contract and returns it decoded.
func kinesisContract(t *testing.T, r *http.Request) kinesisPutRecords {
	t.Helper()
	var in kinesisPutRecords
	if r.Method != http.MethodPost || r.URL.Path != "/" {
		t.Errorf("%s %s, want POST /", r.Method, r.URL.Path)
	}
	if got := r.Header.Get("X-Amz-Target"); got != "Kinesis_20131202.PutRecords" {
		t.Errorf("X-Amz-Target %q", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type %q", got)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 Credential="+awsTestKeyID+"/") || r.Header.Get("X-Amz-Date") == "" {
		t.Errorf("not signed: %q", r.Header.Get("Authorization"))
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		t.Errorf("PutRecords body: %v", err)
	}
	if in.StreamName == "" || len(in.Records) == 0 || len(in.Records) > 500 {
		t.Errorf("stream %q, %d records", in.StreamName, len(in.Records))
	}
	for _, rec := range in.Records {
		data, err := base64.StdEncoding.DecodeString(rec.Data)
		if err != nil || len(data) == 0 || rec.PartitionKey == "" || len([]rune(rec.PartitionKey)) > 256 {
			t.Errorf("record: data %v, key %q", err, rec.PartitionKey)
		}
	}
	return in
}

// recordIDs are the result IDs of a PutRecords request's records.
func recordIDs(t *testing.T, in kinesisPutRecords) []string {
	var ids []string
	for _, rec := range in.Records {
		data, _ := base64.StdEncoding.DecodeString(rec.Data)
		var doc ResultDocument
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Errorf("record data: %v", err)
		}
		ids = append(ids, doc.ID)
	}
	return ids
}

// kinesisAnswer answers a PutRecords request of n records, failing those at failed with code.
func kinesisAnswer(w http.ResponseWriter, n int, failed map[int]string) {
	type rec struct {
		SequenceNumber string `json:",omitempty"`
		ShardId        string `json:",omitempty"`
		ErrorCode      string `json:",omitempty"`
		ErrorMessage   string `json:",omitempty"`
	}
	out := struct {
		FailedRecordCount int
		Records           []rec
	}{}
	for i := 0; i < n; i++ {
		if code, ok := failed[i]; ok {
			out.FailedRecordCount++
			out.Records = append(out.Records, rec{ErrorCode: code, ErrorMessage: "Rate exceeded for shard shardId-000000000001 in stream s under account 123456789012."})
			continue
		}
		out.Records = append(out.Records, rec{SequenceNumber: "4959" + string(rune('0'+i)), ShardId: "shardId-000000000001"})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

// TestKinesisRetriesOnlyFailedRecords: records refused one by one are put again, alone,
// inside Send; what still fails after the retries is a retryable error counting the leading
// records that are on the stream.
func TestKinesisRetriesOnlyFailedRecords(t *testing.T) {
	isolateAWSEnv(t)
	b := Batch{Report: testReport}
	for i := 0; i < 5; i++ {
		r := fullResult()
		r.Hash = uint64(0x10 + i)
		b.Results = append(b.Results, r)
	}
	ids := func(keys ...int) string {
		var out []string
		for _, k := range keys {
			out = append(out, report.IDOf(uint64(k)))
		}
		return strings.Join(out, ",")
	}

	t.Run("recovered", func(t *testing.T) {
		var got []string
		_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			in := kinesisContract(t, r)
			got = append(got, strings.Join(recordIDs(t, in), ","))
			if len(got) == 1 {
				kinesisAnswer(w, len(in.Records), map[int]string{1: "ProvisionedThroughputExceededException", 3: "InternalFailure"})
				return
			}
			kinesisAnswer(w, len(in.Records), nil)
		})
		s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL))
		var slept []time.Duration
		s.(*kinesis).sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
		if err := s.Send(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if want := []string{ids(0x10, 0x11, 0x12, 0x13, 0x14), ids(0x11, 0x13)}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("requests %v, want %v", got, want)
		}
		if len(slept) != 1 || slept[0] != kinesisRecordBackoff {
			t.Fatalf("backoff %v", slept)
		}
	})
	t.Run("still failing", func(t *testing.T) {
		var got []string
		_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			in := kinesisContract(t, r)
			got = append(got, strings.Join(recordIDs(t, in), ","))
			failed := map[int]string{}
			for i, id := range recordIDs(t, in) {
				if id == report.IDOf(0x12) || id == report.IDOf(0x14) {
					failed[i] = "ProvisionedThroughputExceededException"
				}
			}
			kinesisAnswer(w, len(in.Records), failed)
		})
		s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL))
		s.(*kinesis).sleep = func(context.Context, time.Duration) error { return nil }
		e := asError(t, s.Send(context.Background(), b))
		if !e.Retryable || e.Sent != 2 || !strings.Contains(e.Reason, "2 of 5 records refused (ProvisionedThroughputExceededException x2)") {
			t.Fatalf("got %#v", e)
		}
		if strings.Contains(e.Reason, "123456789012") {
			t.Errorf("reason repeats the service's message: %q", e.Reason)
		}
		if len(got) != kinesisRecordRetries || got[1] != ids(0x12, 0x14) || got[2] != ids(0x12, 0x14) {
			t.Fatalf("requests %v", got)
		}
	})
	t.Run("permanent record error", func(t *testing.T) {
		n := 0
		_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			n++
			in := kinesisContract(t, r)
			kinesisAnswer(w, len(in.Records), map[int]string{0: "KMSAccessDeniedException"})
		})
		s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL))
		e := asError(t, s.Send(context.Background(), b))
		if e.Retryable || e.Sent != 0 || n != 1 {
			t.Fatalf("got %#v after %d requests", e, n)
		}
	})
}

func TestKinesisPartitionKey(t *testing.T) {
	long := fullResult()
	long.Resource = &report.Resource{Kind: "ConfigMap", Namespace: "ns", Name: strings.Repeat("é", 300)}
	cluster := fullResult()
	cluster.Resource = &report.Resource{Kind: "Namespace", Name: "team-a"}
	cases := map[string]struct {
		rep  ReportRef
		r    report.Result
		want string
	}{
		"uid":           {testReport, fullResult(), "5d2c"},
		"no uid":        {testReport, cluster, "Namespace//team-a"},
		"no resource":   {ReportRef{Kind: "ClusterPolicyReport", Name: "cpol"}, bareResult(), "/cpol"},
		"long resource": {testReport, long, "ConfigMap/ns/" + strings.Repeat("é", 256-len("ConfigMap/ns/"))},
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := cases[n]
		if got := partitionKey(c.rep, &c.r); got != c.want {
			t.Errorf("%s: %q, want %q", n, got, c.want)
		}
	}
}

func TestKinesisConfigErrors(t *testing.T) {
	isolateAWSEnv(t)
	noStream := awsConfig(v1alpha1.DestinationKinesis, nil, "")
	badStream := awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "a/b"}, "")
	assertConfigErrors(t, v1alpha1.DestinationKinesis, awsTestSecret, map[string]Config{
		"no stream": noStream, "stream with a slash": badStream,
	})
}

// TestKinesisSplitsAtTheRequestLimit: records over 5 MiB together go in several calls, in
// order; a failure in the second call counts the first call's records as sent.
func TestKinesisSplitsAtTheRequestLimit(t *testing.T) {
	isolateAWSEnv(t)
	b := Batch{Report: testReport}
	for i := 0; i < 8; i++ {
		r := fullResult()
		r.Hash = uint64(0x30 + i)
		r.Message = strings.Repeat("m", 900<<10) // 8 records of ~900 KiB: 5 in the first call
		b.Results = append(b.Results, r)
	}
	var calls [][]string
	_, srv := startAWSRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		in := kinesisContract(t, r)
		calls = append(calls, recordIDs(t, in))
		size := 0
		for _, rec := range in.Records {
			data, _ := base64.StdEncoding.DecodeString(rec.Data)
			size += len(data) + len(rec.PartitionKey)
		}
		if size > 5<<20 {
			t.Errorf("a request of %d bytes", size)
		}
		failed := map[int]string{}
		for i, id := range recordIDs(t, in) {
			if id == report.IDOf(0x36) {
				failed[i] = "InternalFailure"
			}
		}
		kinesisAnswer(w, len(in.Records), failed)
	})
	s := newTestSender(t, awsConfig(v1alpha1.DestinationKinesis, descriptor.Settings{"streamName": "s"}, srv.URL))
	s.(*kinesis).sleep = func(context.Context, time.Duration) error { return nil }
	e := asError(t, s.Send(context.Background(), b))
	if len(calls) != 1+kinesisRecordRetries || len(calls[0]) != 5 || len(calls[1]) != 3 || calls[1][0] != report.IDOf(0x35) {
		t.Fatalf("calls %v", calls)
	}
	if !e.Retryable || e.Sent != 6 {
		t.Fatalf("got %#v", e)
	}
}
