package wire

import (
	"strconv"
	"strings"
)

// decodeReplyFast decodes the canonical subset of reply documents without
// encoding/xml. The subset is that of decodeRequestFast (declaration, white
// space, names and text), with this structure: <teamdrive> holds simple
// elements (<name>text</name> or <name/>), <exception> and <settings> hold
// simple elements, and <messages> holds <message> elements that hold simple
// elements. Anything else (an element nested deeper, another child of
// <messages>, a comment, ...) is outside the subset.
//
// ok is false for any document outside the subset and for every document
// that decodeReplyXML rejects (too large, too many elements, an exception
// without a numeric <primarycode>, a <message> without <id> or with a bad
// <created>), so that the caller falls back to decodeReplyXML, which then
// decides and words the error. Where ok is true the result equals
// decodeReplyXML's; FuzzDecodeReplyFast checks this.
func decodeReplyFast(body []byte) (r *Reply, ok bool) {
	p, ok := fastPrologue(body)
	if !ok {
		return nil, false
	}
	f := fastScanner{b: body}
	r = &Reply{}
	for {
		name, open, q, ok := f.nextChild(p, rootName)
		if !ok {
			return nil, false
		}
		p = q
		if name == nil {
			break
		}
		switch string(name) {
		case "exception":
			var fs []Field
			if fs, p, ok = f.fields(p, name, open); !ok {
				return nil, false
			}
			e, ok := exceptionOf(fs)
			if !ok {
				return nil, false
			}
			r.Exception = e
		case "messages":
			var ms []Message
			if ms, p, ok = f.messages(p, open); !ok {
				return nil, false
			}
			r.Messages = append(r.Messages, ms...)
		case "settings":
			var fs []Field
			if fs, p, ok = f.fields(p, name, open); !ok {
				return nil, false
			}
			r.Settings = append(r.Settings, fs...)
		default:
			var text string
			if text, p, ok = f.text(p, name, open); !ok {
				return nil, false
			}
			if r.Fields == nil {
				r.Fields = make([]Field, 0, 2)
			}
			r.Fields = append(r.Fields, Field{Name: replyFieldName(name), Value: text})
		}
	}
	if skipSpace(body, p) != len(body) {
		return nil, false
	}
	if r.Exception != nil {
		r.Fields, r.Settings, r.Messages = nil, nil, nil
	}
	return r, true
}

// fields reads the simple children of the element name (<exception>,
// <settings>) up to its end tag.
func (f *fastScanner) fields(p int, name []byte, open bool) ([]Field, int, bool) {
	if !open {
		return nil, p, true
	}
	var fs []Field
	for {
		child, copen, q, ok := f.nextChild(p, name)
		if !ok {
			return nil, 0, false
		}
		if child == nil {
			return fs, q, true
		}
		var text string
		if text, p, ok = f.text(q, child, copen); !ok {
			return nil, 0, false
		}
		fs = append(fs, Field{Name: replyFieldName(child), Value: text})
	}
}

var (
	messagesName = []byte("messages")
	messageName  = []byte("message")
)

// messages reads the <message> children of <messages> up to its end tag,
// as decoder.messages does.
func (f *fastScanner) messages(p int, open bool) ([]Message, int, bool) {
	if !open {
		return nil, p, true
	}
	var ms []Message
	for {
		child, copen, q, ok := f.nextChild(p, messagesName)
		if !ok {
			return nil, 0, false
		}
		if child == nil {
			return ms, q, true
		}
		if string(child) != "message" || !copen {
			return nil, 0, false // skipped, or a <message/> without <id>
		}
		p = q
		var m Message
		for {
			field, fopen, q, ok := f.nextChild(p, messageName)
			if !ok {
				return nil, 0, false
			}
			if field == nil {
				p = q
				break
			}
			var text string
			if text, p, ok = f.text(q, field, fopen); !ok {
				return nil, 0, false
			}
			switch string(field) {
			case "id":
				m.ID = text
			case "type":
				m.Type = text
			case "from":
				m.From = text
			case "spaceid":
				m.SpaceID = text
			case "payload":
				m.Payload = text
			case "created":
				if text == "" {
					continue
				}
				t, err := parseSeconds(text)
				if err != nil {
					return nil, 0, false
				}
				m.Created = t
			}
		}
		if m.ID == "" {
			return nil, 0, false
		}
		if ms == nil {
			ms = make([]Message, 0, 4)
		}
		ms = append(ms, m)
	}
}

// exceptionOf is decoder.exception over the fields already read; ok is
// false where decoder.exception fails.
func exceptionOf(fs []Field) (*Exception, bool) {
	code, ok := get(fs, "primarycode")
	if !ok {
		return nil, false
	}
	primary, err := strconv.Atoi(strings.TrimSpace(code))
	if err != nil {
		return nil, false
	}
	e := &Exception{PrimaryCode: primary}
	e.SecondaryCode, _ = get(fs, "secondarycode")
	e.SecondaryCode = strings.TrimSpace(e.SecondaryCode)
	e.Message, _ = get(fs, "message")
	return e, true
}

// replyFieldName returns name as a string, without allocating for the
// reply field names of PROTOCOL.md.
func replyFieldName(name []byte) string {
	switch string(name) {
	case "pollinterval":
		return "pollinterval"
	case "session":
		return "session"
	case "userid":
		return "userid"
	case "deviceid":
		return "deviceid"
	case "ok":
		return "ok"
	case "acked":
		return "acked"
	case "invitationid":
		return "invitationid"
	case "commentid":
		return "commentid"
	case "keyrepository":
		return "keyrepository"
	case "storageperiod":
		return "storageperiod"
	case "sessionttl":
		return "sessionttl"
	case "primarycode":
		return "primarycode"
	case "secondarycode":
		return "secondarycode"
	case "message":
		return "message"
	}
	return fieldName(name)
}
