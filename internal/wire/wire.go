package wire

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
)

// Transport constants of PROTOCOL.md.
const (
	// APIPath is the path of every API call below a published base URL.
	APIPath = "/pbas/td2as/api/api.htm"
	// HealthPath answers 200 while an instance can serve and 503 otherwise.
	HealthPath = "/healthz"
	// ContentType is the media type of request and reply bodies.
	ContentType = "text/xml; charset=utf-8"
	// MaxBodySize caps request and reply bodies (1 MiB). A larger body is an
	// error, never a partial read.
	MaxBodySize = 1 << 20
	// ChecksumParam is the query parameter that carries the body checksum.
	ChecksumParam = "checksum"
)

// Commands of PROTOCOL.md.
const (
	CmdRegisterUser     = "registeruser"
	CmdLoginUser        = "loginuser"
	CmdRegisterDevice   = "registerdevice"
	CmdSendInvitation   = "sendinvitation"
	CmdSendComment      = "sendcomment"
	CmdGetMessages      = "getmessages"
	CmdAckMessages      = "ackmessages"
	CmdChangePassword   = "changepassword"
	CmdSendPassword     = "sendpassword"
	CmdSetKeyRepository = "setkeyrepository"
	CmdGetSettings      = "getsettings"
)

// Exception primary codes of PROTOCOL.md.
const (
	CodeDatabase         = -12507 // the instance lost its database (secondary 2003)
	CodeUserUnknown      = -30100
	CodeWrongPassword    = -30101
	CodeNotActivated     = -30102
	CodeDisabled         = -30103
	CodeUsernameTaken    = -30104
	CodeBadRequest       = -30200 // unknown command or missing field
	CodeChecksum         = -30201
	CodeRecipientUnknown = -30300
	CodeSessionExpired   = -30400
)

// SecondaryMySQLConnect is the secondary code that comes with CodeDatabase
// when the database server cannot be reached.
const SecondaryMySQLConnect = "2003"

// Decoding errors. Every decoding failure wraps exactly one of these, so
// callers can tell them apart with errors.Is.
var (
	// ErrTooLarge reports a body over MaxBodySize.
	ErrTooLarge = errors.New("wire: body exceeds 1 MiB")
	// ErrMalformed reports a body that is not well-formed XML of the
	// expected shape.
	ErrMalformed = errors.New("wire: malformed document")
	// ErrWrongRoot reports a well-formed document whose root element is not
	// <teamdrive> (a captive portal's or a proxy's page, for instance).
	ErrWrongRoot = errors.New("wire: root element is not <teamdrive>")
	// ErrMissingCommand reports a request without a <command>.
	ErrMissingCommand = errors.New("wire: request has no <command>")
)

// DecodeError says why a body could not be decoded. It wraps one of
// ErrTooLarge, ErrMalformed, ErrWrongRoot or ErrMissingCommand. Detail never
// quotes the body's content beyond element names.
type DecodeError struct {
	Kind   error  // one of the sentinel errors above
	Detail string // what exactly was wrong, for humans
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return e.Kind.Error()
	}
	return e.Kind.Error() + ": " + e.Detail
}

// Unwrap returns the sentinel kind.
func (e *DecodeError) Unwrap() error { return e.Kind }

func decodeErr(kind error, format string, args ...any) error {
	return &DecodeError{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// Field is one named value of a request or reply, kept in document order.
type Field struct {
	Name  string
	Value string
}

// Exception is the error reply of PROTOCOL.md. It implements error.
type Exception struct {
	PrimaryCode   int
	SecondaryCode string
	Message       string
}

func (e *Exception) Error() string {
	s := "exception " + strconv.Itoa(e.PrimaryCode)
	if e.SecondaryCode != "" {
		s += " (" + e.SecondaryCode + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Checksum returns the lower-case hex MD5 of body followed by salt.
func Checksum(body []byte, salt string) string {
	h := md5.New()
	h.Write(body)
	h.Write([]byte(salt))
	var sum [md5.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// VerifyChecksum reports whether got is the checksum of body and salt. It
// compares in constant time.
func VerifyChecksum(body []byte, salt, got string) bool {
	want := Checksum(body, salt)
	return subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// get returns the value of the first field called name.
func get(fields []Field, name string) (string, bool) {
	for _, f := range fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return "", false
}
