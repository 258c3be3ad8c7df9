package sender

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	v1alpha1 "github.com/policyherald/policy-herald/api/v1alpha1"
	"github.com/policyherald/policy-herald/internal/destination/descriptor"
	"github.com/policyherald/policy-herald/internal/report"
	"github.com/policyherald/policy-herald/internal/sender/transport"
)

const (
	s3DefaultPrefix = "policy-herald"
	// s3MaxPrefix bounds the configured prefix, so every key stays under S3's 1024 bytes.
	s3MaxPrefix = 512
	// s3MaxPolicy bounds the policy part of a key.
	s3MaxPolicy = 200
	// s3MaxBatch results are written per Send, one PutObject each, in order.
	s3MaxBatch = 10
)

// s3 writes one JSON object per result (its ResultDocument) with PutObject.
//
// Key: <prefix>/<YYYY-MM-DD>/<policy>-<result ID>.json, the date the result's own timestamp in
// UTC ("undated" without one) and the policy reduced to letters, digits, '.', '_' and '-'. A
// result's key never changes, so a retry overwrites the object instead of adding another.
// Settings: bucket (required), prefix (default policy-herald), region, endpoint, pathStyle,
// serverSideEncryption (AES256 or aws:kms), kmsKeyID and bucketKeyEnabled (aws:kms only).
type s3 struct {
	*awsTarget
	client *awss3.Client
	bucket string
	prefix string
	sse    s3types.ServerSideEncryption
	kmsKey string
	bkey   bool
}

func init() {
	register(newS3, descriptor.AWS(v1alpha1.DestinationS3, "bucket",
		"prefix", "pathStyle", "serverSideEncryption", "kmsKeyID", "bucketKeyEnabled"))
}

func newS3(cfg Config) (Sender, error) {
	inline := *cfg.Destination.S3
	bucket := inline.Bucket
	if bucket == "" {
		return nil, fmt.Errorf("s3 bucket is not set")
	}
	if strings.ContainsAny(bucket, "/?#") {
		return nil, fmt.Errorf("s3 bucket is not a bucket name")
	}
	prefix := strings.Trim(inline.Prefix, "/")
	if prefix == "" {
		prefix = s3DefaultPrefix
	}
	if len(prefix) > s3MaxPrefix {
		return nil, fmt.Errorf("s3 prefix is longer than %d bytes", s3MaxPrefix)
	}
	sse := inline.ServerSideEncryption
	kmsKey := inline.KMSKeyID
	switch sse {
	case "", string(s3types.ServerSideEncryptionAes256), string(s3types.ServerSideEncryptionAwsKms):
	default:
		return nil, fmt.Errorf("s3 serverSideEncryption must be AES256 or aws:kms")
	}
	if sse != string(s3types.ServerSideEncryptionAwsKms) && (kmsKey != "" || inline.BucketKeyEnabled) {
		return nil, fmt.Errorf("s3 kmsKeyID and bucketKeyEnabled need serverSideEncryption aws:kms")
	}
	t, err := newAWSTarget(context.Background(), cfg, inline.AWSSettings, func(region string) string {
		return "s3." + region + ".amazonaws.com"
	}, kmsKey)
	if err != nil {
		return nil, err
	}
	client := awss3.NewFromConfig(t.aws, func(o *awss3.Options) {
		o.BaseEndpoint = t.baseEndpoint()
		o.UsePathStyle = inline.PathStyle
		if t.endpoint != "" {
			// Many S3-compatible stores refuse the SDK's default trailing checksums (aws-chunked
			// uploads); AWS itself is reached without a custom endpoint.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
	})
	return &s3{awsTarget: t, client: client, bucket: bucket, prefix: prefix,
		sse: s3types.ServerSideEncryption(sse), kmsKey: kmsKey, bkey: inline.BucketKeyEnabled}, nil
}

// MaxBatch: each result is one object; a batch is written in order.
func (s *s3) MaxBatch() int { return s3MaxBatch }

// Send writes one object per result, in order, and stops at the first failure, whose *Error
// counts in Sent the objects written before it.
func (s *s3) Send(ctx context.Context, b Batch) error {
	if err := s.usable(); err != nil {
		return err
	}
	for i := range b.Results {
		r := &b.Results[i]
		body, err := transport.MarshalJSON(NewResultDocument(b.Report, r, b.CustomFields))
		if err != nil {
			return &Error{Reason: fmt.Sprintf("encoding the s3 object: %v", err), Sent: i}
		}
		in := &awss3.PutObjectInput{
			Bucket:        aws.String(s.bucket),
			Key:           aws.String(s.key(r)),
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
			ContentType:   aws.String(transport.ContentTypeJSON),
		}
		if s.sse != "" {
			in.ServerSideEncryption = s.sse
		}
		if s.kmsKey != "" {
			in.SSEKMSKeyId = aws.String(s.kmsKey)
		}
		if s.bkey {
			in.BucketKeyEnabled = aws.Bool(true)
		}
		if _, err := s.client.PutObject(ctx, in); err != nil {
			return transport.WithSent(s.fail(http.MethodPut, err), i)
		}
	}
	return nil
}

// key is the object key of r.
func (s *s3) key(r *report.Result) string {
	day := "undated"
	if t := r.Timestamp(); !t.IsZero() {
		day = t.Format("2006-01-02")
	}
	return s.prefix + "/" + day + "/" + objectNamePart(r.Policy, s3MaxPolicy) + "-" + r.ID() + ".json"
}
