/*
Copyright 2026 The queue-drainer Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package cwsim

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// The wire format is Smithy RPC v2 CBOR, as spoken by
// github.com/aws/aws-sdk-go-v2/service/cloudwatch since v1.53.0:
//
//   - requests are POST /service/GraniteServiceVersion20100801/operation/<Op>
//     with Smithy-Protocol: rpc-v2-cbor and, when there is a body,
//     Content-Type: application/cbor; PutMetricData bodies of 10 KiB or more
//     are gzip-compressed (Content-Encoding: gzip);
//   - bodies are CBOR maps keyed by the Smithy member names (the SDK writes
//     indefinite-length maps and lists);
//   - timestamps are tag 1 wrapping epoch seconds (the SDK writes float64);
//   - errors carry __type and message in the body; CloudWatch is
//     awsQueryCompatible, so the SDK takes the error code from the
//     X-Amzn-Query-Error header ("<code>;Sender|Receiver") when present.

const (
	serviceName  = "GraniteServiceVersion20100801"
	operationDir = "/service/" + serviceName + "/operation/"
	shapePrefix  = "com.amazonaws.cloudwatch#"

	// maxBodyBytes bounds a request body on the wire and after gzip. AWS
	// limits PutMetricData to 1 MB; a little headroom keeps the error ours.
	maxBodyBytes = 4 << 20
)

var (
	decMode = mustDecMode()
	encMode = mustEncMode()
)

func mustDecMode() cbor.DecMode {
	dm, err := cbor.DecOptions{
		// Smithy member names are case-sensitive.
		FieldNameMatching: cbor.FieldNameMatchingCaseSensitive,
		MaxNestedLevels:   16,
		MaxArrayElements:  20000,
		MaxMapPairs:       20000,
		IndefLength:       cbor.IndefLengthAllowed,
	}.DecMode()
	if err != nil {
		panic(err)
	}
	return dm
}

func mustEncMode() cbor.EncMode {
	em, err := cbor.EncOptions{
		Sort:          cbor.SortNone,
		ShortestFloat: cbor.ShortestFloatNone,
		NaNConvert:    cbor.NaNConvertNone,
		InfConvert:    cbor.InfConvertNone,
		// Empty lists go out as [] rather than null.
		NilContainers: cbor.NilContainerAsEmpty,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	return em
}

// epochTime is a Smithy timestamp: CBOR tag 1 around epoch seconds.
type epochTime struct{ time.Time }

// maxEpochSeconds keeps decoded timestamps far from int64 overflow
// (year 5138); CloudWatch itself only accepts recent times.
const maxEpochSeconds = 1e11

func (t *epochTime) UnmarshalCBOR(data []byte) error {
	var raw cbor.RawTag
	if err := decMode.Unmarshal(data, &raw); err != nil {
		return fmt.Errorf("timestamp is not a CBOR tag: %w", err)
	}
	if raw.Number != 1 {
		return fmt.Errorf("timestamp has CBOR tag %d, want tag 1 (epoch seconds)", raw.Number)
	}
	var v any
	if err := decMode.Unmarshal(raw.Content, &v); err != nil {
		return fmt.Errorf("timestamp content: %w", err)
	}
	var secs float64
	switch n := v.(type) {
	case uint64:
		if n > maxEpochSeconds {
			return fmt.Errorf("timestamp %d out of range", n)
		}
		t.Time = time.Unix(int64(n), 0).UTC()
		return nil
	case int64:
		if n < -maxEpochSeconds {
			return fmt.Errorf("timestamp %d out of range", n)
		}
		t.Time = time.Unix(n, 0).UTC()
		return nil
	case float64:
		secs = n
	default:
		return fmt.Errorf("timestamp content is %T, want a number of epoch seconds", v)
	}
	if math.IsNaN(secs) || math.Abs(secs) > maxEpochSeconds {
		return fmt.Errorf("timestamp %v out of range", secs)
	}
	t.Time = time.UnixMilli(int64(math.Round(secs * 1e3))).UTC()
	return nil
}

func (t epochTime) MarshalCBOR() ([]byte, error) {
	return encMode.Marshal(cbor.Tag{Number: 1, Content: float64(t.UnixMilli()) / 1e3})
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ---- requests ------------------------------------------------------------

type wireDimension struct {
	Name  *string `cbor:"Name,omitempty"`
	Value *string `cbor:"Value,omitempty"`
}

type wireMetric struct {
	Namespace  *string         `cbor:"Namespace,omitempty"`
	MetricName *string         `cbor:"MetricName,omitempty"`
	Dimensions []wireDimension `cbor:"Dimensions,omitempty"`
}

type wireStatisticSet struct {
	SampleCount *float64 `cbor:"SampleCount,omitempty"`
	Sum         *float64 `cbor:"Sum,omitempty"`
	Minimum     *float64 `cbor:"Minimum,omitempty"`
	Maximum     *float64 `cbor:"Maximum,omitempty"`
}

type wireMetricDatum struct {
	MetricName        *string           `cbor:"MetricName,omitempty"`
	Dimensions        []wireDimension   `cbor:"Dimensions,omitempty"`
	Timestamp         *epochTime        `cbor:"Timestamp,omitempty"`
	Value             *float64          `cbor:"Value,omitempty"`
	StatisticValues   *wireStatisticSet `cbor:"StatisticValues,omitempty"`
	Values            []float64         `cbor:"Values,omitempty"`
	Counts            []float64         `cbor:"Counts,omitempty"`
	Unit              *string           `cbor:"Unit,omitempty"`
	StorageResolution *int64            `cbor:"StorageResolution,omitempty"`
}

type putMetricDataInput struct {
	Namespace  *string           `cbor:"Namespace,omitempty"`
	MetricData []wireMetricDatum `cbor:"MetricData,omitempty"`
	// EntityMetricData is accepted and ignored apart from its presence.
	EntityMetricData []cbor.RawMessage `cbor:"EntityMetricData,omitempty"`
}

type wireMetricStat struct {
	Metric *wireMetric `cbor:"Metric,omitempty"`
	Period *int64      `cbor:"Period,omitempty"`
	Stat   *string     `cbor:"Stat,omitempty"`
	Unit   *string     `cbor:"Unit,omitempty"`
}

type wireMetricDataQuery struct {
	Id         *string         `cbor:"Id,omitempty"`
	MetricStat *wireMetricStat `cbor:"MetricStat,omitempty"`
	Expression *string         `cbor:"Expression,omitempty"`
	Label      *string         `cbor:"Label,omitempty"`
	ReturnData *bool           `cbor:"ReturnData,omitempty"`
	Period     *int64          `cbor:"Period,omitempty"`
	AccountId  *string         `cbor:"AccountId,omitempty"`
}

type getMetricDataInput struct {
	MetricDataQueries []wireMetricDataQuery `cbor:"MetricDataQueries,omitempty"`
	StartTime         *epochTime            `cbor:"StartTime,omitempty"`
	EndTime           *epochTime            `cbor:"EndTime,omitempty"`
	NextToken         *string               `cbor:"NextToken,omitempty"`
	ScanBy            *string               `cbor:"ScanBy,omitempty"`
	MaxDatapoints     *int64                `cbor:"MaxDatapoints,omitempty"`
	LabelOptions      cbor.RawMessage       `cbor:"LabelOptions,omitempty"`
}

type wireDimensionFilter struct {
	Name  *string `cbor:"Name,omitempty"`
	Value *string `cbor:"Value,omitempty"`
}

type listMetricsInput struct {
	Namespace             *string               `cbor:"Namespace,omitempty"`
	MetricName            *string               `cbor:"MetricName,omitempty"`
	Dimensions            []wireDimensionFilter `cbor:"Dimensions,omitempty"`
	NextToken             *string               `cbor:"NextToken,omitempty"`
	RecentlyActive        *string               `cbor:"RecentlyActive,omitempty"`
	IncludeLinkedAccounts *bool                 `cbor:"IncludeLinkedAccounts,omitempty"`
	OwningAccount         *string               `cbor:"OwningAccount,omitempty"`
}

// ---- responses -----------------------------------------------------------

type outDimension struct {
	Name  string `cbor:"Name"`
	Value string `cbor:"Value"`
}

type outMetric struct {
	Namespace  string         `cbor:"Namespace"`
	MetricName string         `cbor:"MetricName"`
	Dimensions []outDimension `cbor:"Dimensions"`
}

type outMetricDataResult struct {
	Id         string      `cbor:"Id"`
	Label      string      `cbor:"Label,omitempty"`
	Timestamps []epochTime `cbor:"Timestamps"`
	Values     []float64   `cbor:"Values"`
	StatusCode string      `cbor:"StatusCode"`
}

type getMetricDataOutput struct {
	MetricDataResults []outMetricDataResult `cbor:"MetricDataResults"`
	NextToken         string                `cbor:"NextToken,omitempty"`
}

type listMetricsOutput struct {
	Metrics   []outMetric `cbor:"Metrics"`
	NextToken string      `cbor:"NextToken,omitempty"`
}

type emptyOutput struct{}

// ---- errors --------------------------------------------------------------

// APIError is an error response of the simulator. Modeled CloudWatch
// errors carry the shape ID in __type and the awsQuery code in the
// X-Amzn-Query-Error header, as CloudWatch does, so the SDK returns its
// typed error (for example *types.InvalidParameterValueException) whose
// ErrorCode() is the query code ("InvalidParameterValue").
type APIError struct {
	Status  int
	Type    string // __type in the body
	Code    string // X-Amzn-Query-Error code; empty for protocol errors
	Message string
	// messageKey is the member that holds the message in the modeled shape
	// (messageMember for most, messageMemberUpper for a few).
	messageKey string
}

// The members that hold an error shape's message.
const (
	messageMember      = "message"
	messageMemberUpper = "Message"
)

func (e *APIError) Error() string { return e.Code + ": " + e.Message }

type modeledError struct {
	shape      string
	queryCode  string
	status     int
	messageKey string
}

// modeledErrors are the CloudWatch error shapes the SDK's TypeRegistry
// knows (shape name, awsQueryError code, HTTP status, message member).
var modeledErrors = []modeledError{
	{"InvalidParameterValueException", "InvalidParameterValue", 400, messageMember},
	{"InvalidParameterCombinationException", "InvalidParameterCombination", 400, messageMember},
	{"MissingRequiredParameterException", "MissingParameter", 400, messageMember},
	{"InvalidNextToken", "InvalidNextToken", 400, messageMember},
	{"InvalidFormatFault", "InvalidFormat", 400, messageMember},
	{"LimitExceededFault", "LimitExceeded", 400, messageMember},
	{"LimitExceededException", "LimitExceededException", 400, messageMemberUpper},
	{"InternalServiceFault", "InternalServiceError", 500, messageMemberUpper},
	{"ResourceNotFound", "ResourceNotFound", 404, messageMember},
	{"ResourceNotFoundException", "ResourceNotFoundException", 404, messageMemberUpper},
	{"ValidationException", "ValidationError", 400, messageMemberUpper},
}

// NewAPIError builds the error CloudWatch would send for code, which may
// be an awsQuery code ("InvalidParameterValue"), a modeled shape name
// ("InvalidParameterValueException") or any other code ("Throttling",
// "AccessDenied"), which the SDK surfaces as a smithy.GenericAPIError with
// that code. status 0 means the modeled status, or 400.
func NewAPIError(code string, status int, message string) *APIError {
	for _, m := range modeledErrors {
		if code == m.shape || code == m.queryCode {
			if status == 0 {
				status = m.status
			}
			return &APIError{Status: status, Type: shapePrefix + m.shape, Code: m.queryCode, Message: message, messageKey: m.messageKey}
		}
	}
	if status == 0 {
		status = 400
	}
	return &APIError{Status: status, Type: code, Code: code, Message: message, messageKey: messageMember}
}

func errInvalidParameterValue(format string, args ...any) *APIError {
	return NewAPIError("InvalidParameterValue", 0, fmt.Sprintf(format, args...))
}

func errMissingParameter(format string, args ...any) *APIError {
	return NewAPIError("MissingParameter", 0, fmt.Sprintf(format, args...))
}

func errInvalidParameterCombination(format string, args ...any) *APIError {
	return NewAPIError("InvalidParameterCombination", 0, fmt.Sprintf(format, args...))
}

// errSerialization is the protocol-level error for a body that is not the
// CBOR the operation expects. It has no query code, so the SDK reports
// ErrorCode() "SerializationException".
func errSerialization(format string, args ...any) *APIError {
	return &APIError{Status: 400, Type: "SerializationException", Message: fmt.Sprintf(format, args...), messageKey: messageMember}
}

func errUnknownOperation(op string) *APIError {
	return &APIError{
		Status:     404,
		Type:       "UnknownOperationException",
		Message:    fmt.Sprintf("cwsim does not simulate operation %q (supported: %s)", op, strings.Join(supportedOperations, ", ")),
		messageKey: messageMember,
	}
}

func (e *APIError) body() []byte {
	m := map[string]string{"__type": e.Type, messageMember: e.Message}
	if e.messageKey != "" && e.messageKey != messageMember {
		m[e.messageKey] = e.Message
	}
	b, err := encMode.Marshal(m)
	if err != nil { // cannot happen for a map of strings
		return []byte{0xa0}
	}
	return b
}

func (e *APIError) queryErrorHeader() string {
	if e.Code == "" {
		return ""
	}
	fault := "Sender"
	if e.Status >= 500 {
		fault = "Receiver"
	}
	return e.Code + ";" + fault
}

// ---- request decoding ----------------------------------------------------

// Operation names the simulator implements.
const (
	OpPutMetricData = "PutMetricData"
	OpGetMetricData = "GetMetricData"
	OpListMetrics   = "ListMetrics"
)

var supportedOperations = []string{OpGetMetricData, OpListMetrics, OpPutMetricData}

// decodeRequest turns a request body for op into its input struct. It
// never panics; any problem is an *APIError the handler sends back.
// contentEncoding is the request's Content-Encoding header.
func decodeRequest(op, contentEncoding string, body []byte) (in any, apiErr *APIError) {
	switch op {
	case OpPutMetricData:
		in = &putMetricDataInput{}
	case OpGetMetricData:
		in = &getMetricDataInput{}
	case OpListMetrics:
		in = &listMetricsInput{}
	default:
		return nil, errUnknownOperation(op)
	}
	body, err := decodeContent(contentEncoding, body)
	if err != nil {
		return nil, errSerialization("%v", err)
	}
	if len(body) == 0 { // no members set: the SDK sends no body
		return in, nil
	}
	if err := decMode.Unmarshal(body, in); err != nil {
		return nil, errSerialization("cannot decode %s request body as CBOR: %v", op, err)
	}
	return in, nil
}

func decodeContent(contentEncoding string, body []byte) ([]byte, error) {
	// Content-Encoding lists codings in the order they were applied.
	codings := strings.Split(contentEncoding, ",")
	for i := len(codings) - 1; i >= 0; i-- {
		enc := codings[i]
		switch strings.ToLower(strings.TrimSpace(enc)) {
		case "", "identity":
		case "gzip":
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				return nil, fmt.Errorf("gzip body: %w", err)
			}
			out, err := io.ReadAll(io.LimitReader(zr, maxBodyBytes+1))
			if err != nil {
				return nil, fmt.Errorf("gzip body: %w", err)
			}
			if len(out) > maxBodyBytes {
				return nil, errors.New("request body is larger than 4 MiB after decompression")
			}
			body = out
		default:
			return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
		}
	}
	return body, nil
}
