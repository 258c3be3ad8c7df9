package sender

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

const (
	// kinesisMaxBatch results go in one PutRecords call (the API takes up to 500 records and
	// 5 MiB; 100 documents stay far below both).
	kinesisMaxBatch = 100
	// kinesisMaxRecord is the API's limit on a record's data plus partition key.
	kinesisMaxRecord = 1 << 20
	// kinesisMaxRequest is the API's limit on one PutRecords request (data plus keys).
	kinesisMaxRequest = 5 << 20
	// kinesisMaxPartitionKey is the API's limit on a partition key, in Unicode characters.
	kinesisMaxPartitionKey = 256
	// kinesisRecordRetries is how often records the stream refused one by one (throughput
	// exceeded on their shard, internal failure) are put again inside one Send.
	kinesisRecordRetries = 3
	kinesisRecordBackoff = 200 * time.Millisecond
)

// kinesis puts one record per result (its ResultDocument as JSON) on a data stream with
// PutRecords.
//
// Partition key: the resource's UID, else kind/namespace/name of the resource, else
// namespace/name of the report: the records of one resource land on one shard, in order of
// their PutRecords calls. Settings: streamName (required), region, endpoint.
//
// PutRecords can fail for some records and not others, anywhere in the batch. Kinesis has no
// idempotency: a record put twice is there twice. So Send puts again only the records that
// failed, a few times with a short backoff; what still fails is returned as an *Error whose Sent
// is the number of leading results that are on the stream (the prefix the pipeline skips on its
// retry). Records after the first failure that did get through are put again by that retry:
// at-least-once delivery, as for every destination, and a record retried later than its
// neighbours may land after a newer record of the same resource.
type kinesis struct {
	*awsTarget
	client *awskinesis.Client
	stream string
	sleep  func(ctx context.Context, d time.Duration) error
}

func init() {
	register(newKinesis, descriptor.AWS(v1alpha1.DestinationKinesis, "streamName"))
}

func newKinesis(cfg Config) (Sender, error) {
	inline := *cfg.Destination.Kinesis
	stream := inline.StreamName
	if stream == "" {
		return nil, fmt.Errorf("kinesis streamName is not set")
	}
	if len(stream) > 128 || strings.ContainsAny(stream, "/?# ") {
		return nil, fmt.Errorf("kinesis streamName is not a stream name")
	}
	t, err := newAWSTarget(context.Background(), cfg, inline.AWSSettings, func(region string) string {
		return "kinesis." + region + ".amazonaws.com"
	})
	if err != nil {
		return nil, err
	}
	client := awskinesis.NewFromConfig(t.aws, func(o *awskinesis.Options) { o.BaseEndpoint = t.baseEndpoint() })
	return &kinesis{awsTarget: t, client: client, stream: stream, sleep: sleepCtx}, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// MaxBatch is the results of one PutRecords call.
func (k *kinesis) MaxBatch() int { return kinesisMaxBatch }

// Send puts the batch's records with one PutRecords call (more when they exceed the request's
// 5 MiB), then puts again only those refused (see kinesis).
func (k *kinesis) Send(ctx context.Context, b Batch) error {
	if err := k.usable(); err != nil {
		return err
	}
	records := make([]ktypes.PutRecordsRequestEntry, len(b.Results))
	for i := range b.Results {
		r := &b.Results[i]
		data, err := transport.MarshalJSON(NewResultDocument(b.Report, r, b.CustomFields))
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the kinesis record: %v", err), Sent: i}
		}
		key := partitionKey(b.Report, r)
		if len(data)+len(key) > kinesisMaxRecord {
			return &Error{Reason: fmt.Sprintf("kinesis: the record of result %s is %d bytes, over the limit of %d", r.ID(), len(data), kinesisMaxRecord), Sent: i}
		}
		records[i] = ktypes.PutRecordsRequestEntry{Data: data, PartitionKey: aws.String(key)}
	}
	// One PutRecords call per run of records within the request limit, in order.
	for start := 0; start < len(records); {
		end, size := start, 0
		for end < len(records) && (end == start || size+recordSize(&records[end]) <= kinesisMaxRequest) {
			size += recordSize(&records[end])
			end++
		}
		pending := make([]int, 0, end-start)
		for i := start; i < end; i++ {
			pending = append(pending, i)
		}
		if err := k.put(ctx, records, pending); err != nil {
			return err
		}
		start = end
	}
	return nil
}

func recordSize(r *ktypes.PutRecordsRequestEntry) int {
	return len(r.Data) + len(aws.ToString(r.PartitionKey))
}

// put puts records[i] for each i of pending (ascending), then again those refused, and returns
// nil or an *Error whose Sent is the first index not on the stream.
func (k *kinesis) put(ctx context.Context, records []ktypes.PutRecordsRequestEntry, pending []int) error {
	total := len(pending)
	var lastCodes map[string]int
	for attempt := 0; ; attempt++ {
		in := &awskinesis.PutRecordsInput{StreamName: aws.String(k.stream), Records: make([]ktypes.PutRecordsRequestEntry, len(pending))}
		for j, i := range pending {
			in.Records[j] = records[i]
		}
		out, err := k.client.PutRecords(ctx, in)
		if err != nil {
			return transport.WithSent(k.fail(http.MethodPost, err), pending[0])
		}
		if len(out.Records) != len(pending) {
			return transport.WithSent(&Error{Reason: fmt.Sprintf("POST to %s: PutRecords answered %d records for %d", k.host, len(out.Records), len(pending)), Retryable: true}, pending[0])
		}
		var failed []int
		lastCodes = map[string]int{}
		for j, rec := range out.Records {
			if rec.ErrorCode != nil && *rec.ErrorCode != "" {
				failed = append(failed, pending[j])
				lastCodes[*rec.ErrorCode]++
			}
		}
		if len(failed) == 0 {
			return nil
		}
		pending = failed
		if attempt+1 >= kinesisRecordRetries || !recordCodesRetryable(lastCodes) {
			break
		}
		if err := k.sleep(ctx, kinesisRecordBackoff<<attempt); err != nil {
			return transport.WithSent(transport.TransportError(http.MethodPost, k.host, err, k.red), pending[0])
		}
	}
	codes := make([]string, 0, len(lastCodes))
	for c, n := range lastCodes {
		codes = append(codes, fmt.Sprintf("%s x%d", c, n))
	}
	sort.Strings(codes)
	return &Error{
		Reason: fmt.Sprintf("POST to %s: %d of %d records refused (%s)", k.host, len(pending), total,
			transport.Excerpt([]byte(strings.Join(codes, ", ")), k.red)),
		Retryable: recordCodesRetryable(lastCodes),
		Sent:      pending[0],
	}
}

// recordCodesRetryable tells whether per-record error codes say "later": the API documents
// ProvisionedThroughputExceededException and InternalFailure, both retryable; KMS errors of an
// encrypted stream are not.
func recordCodesRetryable(codes map[string]int) bool {
	for c := range codes {
		if c != "ProvisionedThroughputExceededException" && c != "InternalFailure" {
			return false
		}
	}
	return true
}

// partitionKey keeps the records of one resource on one shard.
func partitionKey(rep ReportRef, r *report.Result) string {
	var key string
	switch res := r.Resource; {
	case res != nil && res.UID != "":
		key = res.UID
	case res != nil && res.Name != "":
		key = res.Kind + "/" + res.Namespace + "/" + res.Name
	default:
		key = rep.Namespace + "/" + rep.Name
	}
	if utf8.RuneCountInString(key) > kinesisMaxPartitionKey {
		runes := []rune(key)
		key = string(runes[:kinesisMaxPartitionKey])
	}
	return key
}
