package wire

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

const xmlHeader = "<?xml version='1.0' encoding='UTF-8' ?>\n"

// Request is one API call: the envelope fields and the command's own fields.
type Request struct {
	Command     string
	RequestTime int64  // Unix seconds; 0 when absent
	RequestID   string // idempotency key of mutating commands
	Session     string
	Fields      []Field // the command's own fields, in order
}

// Get returns the value of the first command field called name and whether
// it was present.
func (r *Request) Get(name string) (string, bool) { return get(r.Fields, name) }

// envelope names that may not be used as command fields.
func reservedRequestName(name string) bool {
	switch name {
	case "command", "requesttime", "requestid", "session":
		return true
	}
	return false
}

// AppendRequest appends the XML encoding of r to dst. It fails on an empty
// command, an invalid or reserved field name, or a result over MaxBodySize.
func AppendRequest(dst []byte, r *Request) ([]byte, error) {
	if r.Command == "" {
		return dst, fmt.Errorf("wire: encode request: %w", ErrMissingCommand)
	}
	start := len(dst)
	dst = append(dst, xmlHeader...)
	dst = append(dst, "<teamdrive>"...)
	dst = appendElem(dst, "command", r.Command)
	dst = append(dst, "<requesttime>"...)
	dst = strconv.AppendInt(dst, r.RequestTime, 10)
	dst = append(dst, "</requesttime>"...)
	if r.RequestID != "" {
		dst = appendElem(dst, "requestid", r.RequestID)
	}
	if r.Session != "" {
		dst = appendElem(dst, "session", r.Session)
	}
	for _, f := range r.Fields {
		if !validName(f.Name) || reservedRequestName(f.Name) {
			return dst[:start], fmt.Errorf("wire: encode request: invalid field name %q", f.Name)
		}
		dst = appendElem(dst, f.Name, f.Value)
	}
	dst = append(dst, "</teamdrive>"...)
	if len(dst)-start > MaxBodySize {
		return dst[:start], fmt.Errorf("wire: encode request %s: %w", r.Command, ErrTooLarge)
	}
	return dst, nil
}

// EncodeRequest returns the XML encoding of r; see AppendRequest.
func EncodeRequest(r *Request) ([]byte, error) {
	return AppendRequest(make([]byte, 0, 256), r)
}

// Message is one stored message as getmessages returns it.
type Message struct {
	ID      string
	Type    string // "invitation" or "comment"
	From    string
	SpaceID string
	Payload string
	Created int64 // Unix seconds
}

// Reply is a decoded reply body: result fields, or an exception.
type Reply struct {
	// Fields are the simple result elements (<userid>, <session>,
	// <pollinterval>, <ok/> with an empty value, ...), in document order.
	Fields []Field
	// Settings are the children of <settings>, when present.
	Settings []Field
	// Messages are the children of <messages>, when present.
	Messages []Message
	// Exception is set when the server answered with an exception; the other
	// members are then empty.
	Exception *Exception
}

// Get returns the value of the first result field called name and whether it
// was present.
func (r *Reply) Get(name string) (string, bool) { return get(r.Fields, name) }

func reservedReplyName(name string) bool {
	switch name {
	case "exception", "messages", "settings":
		return true
	}
	return false
}

// AppendReply appends the XML encoding of r to dst. An exception reply
// carries only the exception. Messages and Settings are written when non-nil.
func AppendReply(dst []byte, r *Reply) ([]byte, error) {
	start := len(dst)
	dst = append(dst, xmlHeader...)
	dst = append(dst, "<teamdrive>"...)
	if e := r.Exception; e != nil {
		dst = append(dst, "<exception><primarycode>"...)
		dst = strconv.AppendInt(dst, int64(e.PrimaryCode), 10)
		dst = append(dst, "</primarycode>"...)
		dst = appendElem(dst, "secondarycode", e.SecondaryCode)
		dst = appendElem(dst, "message", e.Message)
		dst = append(dst, "</exception>"...)
	} else {
		for _, f := range r.Fields {
			if !validName(f.Name) || reservedReplyName(f.Name) {
				return dst[:start], fmt.Errorf("wire: encode reply: invalid field name %q", f.Name)
			}
			dst = appendElem(dst, f.Name, f.Value)
		}
		if r.Settings != nil {
			dst = append(dst, "<settings>"...)
			for _, f := range r.Settings {
				if !validName(f.Name) {
					return dst[:start], fmt.Errorf("wire: encode reply: invalid setting name %q", f.Name)
				}
				dst = appendElem(dst, f.Name, f.Value)
			}
			dst = append(dst, "</settings>"...)
		}
		if r.Messages != nil {
			dst = append(dst, "<messages>"...)
			for i := range r.Messages {
				m := &r.Messages[i]
				dst = append(dst, "<message>"...)
				dst = appendElem(dst, "id", m.ID)
				dst = appendElem(dst, "type", m.Type)
				dst = appendElem(dst, "from", m.From)
				dst = appendElem(dst, "spaceid", m.SpaceID)
				dst = appendElem(dst, "payload", m.Payload)
				dst = append(dst, "<created>"...)
				dst = strconv.AppendInt(dst, m.Created, 10)
				dst = append(dst, "</created></message>"...)
			}
			dst = append(dst, "</messages>"...)
		}
	}
	dst = append(dst, "</teamdrive>"...)
	if len(dst)-start > MaxBodySize {
		return dst[:start], fmt.Errorf("wire: encode reply: %w", ErrTooLarge)
	}
	return dst, nil
}

// EncodeReply returns the XML encoding of r; see AppendReply.
func EncodeReply(r *Reply) ([]byte, error) {
	return AppendReply(make([]byte, 0, 256), r)
}

// appendElem appends <name>escaped value</name>, or <name/> for an empty value.
func appendElem(dst []byte, name, value string) []byte {
	dst = append(dst, '<')
	dst = append(dst, name...)
	if value == "" {
		return append(dst, "/>"...)
	}
	dst = append(dst, '>')
	dst = appendEscaped(dst, value)
	dst = append(dst, "</"...)
	dst = append(dst, name...)
	return append(dst, '>')
}

// appendEscaped appends s as XML character data. Characters XML cannot carry
// (most control characters, invalid UTF-8) become U+FFFD; carriage returns
// are written as a character reference so that they survive decoding.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '<':
				dst = append(dst, "&lt;"...)
			case c == '>':
				dst = append(dst, "&gt;"...)
			case c == '&':
				dst = append(dst, "&amp;"...)
			case c == '\r':
				dst = append(dst, "&#xD;"...)
			case c == '\n' || c == '\t' || c >= 0x20:
				dst = append(dst, c)
			default:
				dst = append(dst, "\uFFFD"...)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || !validXMLRune(r) {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return dst
}

func validXMLRune(r rune) bool {
	return r == 0x09 || r == 0x0A || r == 0x0D ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// validName reports whether name is a plain XML element name: an ASCII letter
// or underscore, then letters, digits, '_', '-' or '.'.
func validName(name string) bool {
	if name == "" || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return false
		}
	}
	return true
}
