package sender

// What the external tests (package sender_test, which may import package destination) use of
// this package's internals.

const (
	AWSTestKeyID  = awsTestKeyID
	AWSTestSecret = awsTestSecret
	AWSNoAmbient  = awsNoAmbient
)

var IsolateAWSEnv = isolateAWSEnv

// Unusable tells whether the s3 sender s was built unusable (see awsTarget.unusable).
func Unusable(s Sender) bool { return s.(*s3).unusable != nil }
