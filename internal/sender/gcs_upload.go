package sender

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/crc32"
	"mime"
	"mime/multipart"
	"net/textproto"
	"net/url"

	"github.com/policyherald/policy-herald/internal/sender/transport"
)

// The one call of the Cloud Storage JSON API the gcs sender makes: objects.insert as a multipart
// upload, POST /upload/storage/v1/b/<bucket>/o?uploadType=multipart, whose multipart/related
// body is the object's metadata (a JSON Object resource) and then its data. The service checks
// the data against the crc32c of the metadata (base64 of the big-endian CRC32C) and refuses a
// mismatch with 400. Errors are {"error": {"code", "message", "errors": [...]}}.

// gcsMetadataType is the Content-Type of the metadata part, as the JSON API asks for it.
const gcsMetadataType = "application/json; charset=UTF-8"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// gcsObject is the metadata of an upload: the fields of the Object resource the sender sets.
type gcsObject struct {
	Name        string `json:"name"`
	Bucket      string `json:"bucket"`
	ContentType string `json:"contentType"`
	CRC32C      string `json:"crc32c"`
}

// gcsUploadURL is the multipart upload into bucket on the host of the API endpoint ep: uploads
// go to /upload/storage/v1/ at the root of the host, whatever ep's path, as the client
// libraries send them. alt=json asks for the object resource as the answer.
func gcsUploadURL(ep *url.URL, bucket string) string {
	u := url.URL{Scheme: ep.Scheme, Host: ep.Host, Path: "/upload/storage/v1/b/" + bucket + "/o"}
	u.RawQuery = url.Values{"uploadType": {"multipart"}, "alt": {"json"}}.Encode()
	return u.String()
}

// gcsCRC32C is the object's checksum as the JSON API writes it.
func gcsCRC32C(data []byte) string {
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(data, castagnoli))
	return base64.StdEncoding.EncodeToString(sum[:])
}

// gcsMultipart is the body of the upload of data (a JSON document) as the object name of
// bucket, and its Content-Type.
func gcsMultipart(bucket, name string, data []byte) (body []byte, contentType string, err error) {
	meta, err := json.Marshal(gcsObject{Name: name, Bucket: bucket, ContentType: transport.ContentTypeJSON, CRC32C: gcsCRC32C(data)})
	if err != nil {
		return nil, "", err
	}
	var b bytes.Buffer
	w := multipart.NewWriter(&b) // a random boundary
	for _, p := range []struct {
		typ  string
		body []byte
	}{{gcsMetadataType, meta}, {transport.ContentTypeJSON, data}} {
		pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {p.typ}})
		if err != nil {
			return nil, "", err
		}
		if _, err := pw.Write(p.body); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return b.Bytes(), mime.FormatMediaType("multipart/related", map[string]string{"boundary": w.Boundary()}), nil
}

// gcsErrorMessage is the message of the JSON API's error document, or body itself when it is
// not one (a proxy's page, say).
func gcsErrorMessage(body []byte) []byte {
	var doc struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &doc) == nil && doc.Error.Message != "" {
		return []byte(doc.Error.Message)
	}
	return body
}
