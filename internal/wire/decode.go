package wire

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"
)

// maxFields bounds how many elements one document may hold, so that a hostile
// body of a million empty elements costs bounded memory.
const maxFields = 100_000

// DecodeRequest decodes a request body. It fails with a *DecodeError when the
// body is over MaxBodySize, not well-formed XML, not a <teamdrive> document,
// has nested elements, a non-numeric <requesttime>, or no <command>.
//
// Documents in the canonical form that EncodeRequest writes are decoded by a
// fast path of this package; anything else goes through encoding/xml. Both
// give the same result (see decodeRequestFast).
func DecodeRequest(body []byte) (*Request, error) {
	if r, ok := decodeRequestFast(body); ok {
		return r, nil
	}
	return decodeRequestXML(body)
}

// decodeRequestXML is DecodeRequest by encoding/xml, for every document.
func decodeRequestXML(body []byte) (*Request, error) {
	d, err := newDecoder(body)
	if err != nil {
		return nil, err
	}
	r := &Request{}
	for {
		start, done, err := d.nextChild()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		text, err := d.text(start)
		if err != nil {
			return nil, err
		}
		switch name := start.Name.Local; name {
		case "command":
			r.Command = text
		case "requesttime":
			if text == "" {
				continue
			}
			t, err := parseSeconds(text)
			if err != nil {
				return nil, decodeErr(ErrMalformed, "<requesttime> is not a number of seconds")
			}
			r.RequestTime = t
		case "requestid":
			r.RequestID = text
		case "session":
			r.Session = text
		default:
			r.Fields = append(r.Fields, Field{Name: name, Value: text})
		}
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if r.Command == "" {
		return nil, &DecodeError{Kind: ErrMissingCommand}
	}
	return r, nil
}

// DecodeReply decodes a reply body into result fields, settings, messages or
// an exception. It fails with a *DecodeError when the body is over
// MaxBodySize, not well-formed XML (an HTML error page, say), not a
// <teamdrive> document, or has an exception without a numeric primary code.
// Unknown nested elements are skipped, so that newer servers can add them.
//
// Documents in the canonical form that EncodeReply writes are decoded by a
// fast path of this package; anything else goes through encoding/xml. Both
// give the same result (see decodeReplyFast).
func DecodeReply(body []byte) (*Reply, error) {
	if r, ok := decodeReplyFast(body); ok {
		return r, nil
	}
	return decodeReplyXML(body)
}

// decodeReplyXML is DecodeReply by encoding/xml, for every document.
func decodeReplyXML(body []byte) (*Reply, error) {
	d, err := newDecoder(body)
	if err != nil {
		return nil, err
	}
	r := &Reply{}
	for {
		start, done, err := d.nextChild()
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
		switch start.Name.Local {
		case "exception":
			e, err := d.exception(start)
			if err != nil {
				return nil, err
			}
			r.Exception = e
		case "messages":
			ms, err := d.messages(start)
			if err != nil {
				return nil, err
			}
			r.Messages = append(r.Messages, ms...)
		case "settings":
			fs, err := d.fields(start)
			if err != nil {
				return nil, err
			}
			r.Settings = append(r.Settings, fs...)
		default:
			text, err := d.textOrSkip(start)
			if err != nil {
				return nil, err
			}
			r.Fields = append(r.Fields, Field{Name: start.Name.Local, Value: text})
		}
	}
	if err := d.end(); err != nil {
		return nil, err
	}
	if r.Exception != nil {
		r.Fields, r.Settings, r.Messages = nil, nil, nil
	}
	return r, nil
}

type decoder struct {
	x     *xml.Decoder
	root  xml.Name
	count int
}

func newDecoder(body []byte) (*decoder, error) {
	if len(body) > MaxBodySize {
		return nil, decodeErr(ErrTooLarge, "%d bytes", len(body))
	}
	x := xml.NewDecoder(bytes.NewReader(body))
	x.Strict = true
	// Only UTF-8 is allowed: a declaration naming another encoding fails.
	x.CharsetReader = nil
	d := &decoder{x: x}
	for {
		tok, err := d.token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, decodeErr(ErrMalformed, "empty document")
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local != "teamdrive" || t.Name.Space != "" {
				return nil, decodeErr(ErrWrongRoot, "root element is <%s>", safeName(t.Name.Local))
			}
			d.root = t.Name
			return d, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, decodeErr(ErrMalformed, "text before the root element")
			}
		case xml.Directive:
			return nil, decodeErr(ErrMalformed, "document type declarations are not allowed")
		}
	}
}

// token returns the next token, mapping syntax errors to ErrMalformed.
func (d *decoder) token() (xml.Token, error) {
	tok, err := d.x.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		var se *xml.SyntaxError
		if errors.As(err, &se) {
			return nil, decodeErr(ErrMalformed, "line %d: %s", se.Line, syntaxMsg(se.Msg))
		}
		// encoding/xml's other errors quote the XML declaration's version
		// or encoding.
		return nil, decodeErr(ErrMalformed, "unsupported XML declaration")
	}
	return tok, nil
}

// syntaxMsg returns encoding/xml's message of a syntax error without the
// entity name it quotes from the body.
func syntaxMsg(msg string) string {
	if strings.HasPrefix(msg, "invalid character entity") {
		return "invalid character entity"
	}
	return msg
}

// tokenNoEOF is token where an end of input is a truncated document.
func (d *decoder) tokenNoEOF() (xml.Token, error) {
	tok, err := d.token()
	if errors.Is(err, io.EOF) {
		return nil, decodeErr(ErrMalformed, "unexpected end of document")
	}
	return tok, err
}

// nextChild returns the next child element of the current element, or done
// at its end. Text between children must be white space.
func (d *decoder) nextChild() (start xml.StartElement, done bool, err error) {
	for {
		tok, err := d.tokenNoEOF()
		if err != nil {
			return start, false, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if d.count++; d.count > maxFields {
				return start, false, decodeErr(ErrMalformed, "more than %d elements", maxFields)
			}
			return t, false, nil
		case xml.EndElement:
			return start, true, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return start, false, decodeErr(ErrMalformed, "stray text between elements")
			}
		case xml.Directive:
			return start, false, decodeErr(ErrMalformed, "directive inside the document")
		}
	}
}

// text reads the character data of a simple element up to its end. A nested
// element is an error.
func (d *decoder) text(start xml.StartElement) (string, error) {
	var buf []byte
	for {
		tok, err := d.tokenNoEOF()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			buf = append(buf, t...)
		case xml.EndElement:
			return string(buf), nil
		case xml.StartElement:
			return "", decodeErr(ErrMalformed, "<%s> inside <%s>", safeName(t.Name.Local), safeName(start.Name.Local))
		case xml.Directive:
			return "", decodeErr(ErrMalformed, "directive inside <%s>", safeName(start.Name.Local))
		}
	}
}

// textOrSkip is text, except that an element with children is skipped whole
// and reads as empty.
func (d *decoder) textOrSkip(start xml.StartElement) (string, error) {
	var buf []byte
	for {
		tok, err := d.tokenNoEOF()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.CharData:
			buf = append(buf, t...)
		case xml.EndElement:
			return string(buf), nil
		case xml.StartElement:
			// Skip this child and the rest of the element.
			if err := d.skip(2); err != nil {
				return "", err
			}
			return "", nil
		case xml.Directive:
			return "", decodeErr(ErrMalformed, "directive inside <%s>", safeName(start.Name.Local))
		}
	}
}

// skip consumes tokens until depth open elements have been closed.
func (d *decoder) skip(depth int) error {
	for depth > 0 {
		tok, err := d.tokenNoEOF()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			if d.count++; d.count > maxFields {
				return decodeErr(ErrMalformed, "more than %d elements", maxFields)
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	return nil
}

// fields reads the children of start (a reply's <settings>, <exception> or
// <message>). A child that has children of its own is skipped whole and reads
// as empty, as at the top level, so that newer servers can add them.
func (d *decoder) fields(start xml.StartElement) ([]Field, error) {
	var fs []Field
	for {
		child, done, err := d.nextChild()
		if err != nil || done {
			return fs, err
		}
		text, err := d.textOrSkip(child)
		if err != nil {
			return nil, err
		}
		fs = append(fs, Field{Name: child.Name.Local, Value: text})
	}
}

func (d *decoder) exception(start xml.StartElement) (*Exception, error) {
	fs, err := d.fields(start)
	if err != nil {
		return nil, err
	}
	e := &Exception{}
	code, ok := get(fs, "primarycode")
	if !ok {
		return nil, decodeErr(ErrMalformed, "<exception> without <primarycode>")
	}
	e.PrimaryCode, err = strconv.Atoi(strings.TrimSpace(code))
	if err != nil {
		return nil, decodeErr(ErrMalformed, "<primarycode> is not a number")
	}
	e.SecondaryCode, _ = get(fs, "secondarycode")
	e.SecondaryCode = strings.TrimSpace(e.SecondaryCode)
	e.Message, _ = get(fs, "message")
	return e, nil
}

func (d *decoder) messages(start xml.StartElement) ([]Message, error) {
	var ms []Message
	for {
		child, done, err := d.nextChild()
		if err != nil || done {
			return ms, err
		}
		if child.Name.Local != "message" {
			if err := d.skip(1); err != nil {
				return nil, err
			}
			continue
		}
		fs, err := d.fields(child)
		if err != nil {
			return nil, err
		}
		var m Message
		for _, f := range fs {
			switch f.Name {
			case "id":
				m.ID = f.Value
			case "type":
				m.Type = f.Value
			case "from":
				m.From = f.Value
			case "spaceid":
				m.SpaceID = f.Value
			case "payload":
				m.Payload = f.Value
			case "created":
				if f.Value == "" {
					continue
				}
				m.Created, err = parseSeconds(f.Value)
				if err != nil {
					return nil, decodeErr(ErrMalformed, "message <created> is not a number of seconds")
				}
			}
		}
		if m.ID == "" {
			return nil, decodeErr(ErrMalformed, "<message> without <id>")
		}
		ms = append(ms, m)
	}
}

// end checks that nothing but white space, comments and processing
// instructions follows the root element.
func (d *decoder) end() error {
	for {
		tok, err := d.token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			return decodeErr(ErrMalformed, "second root element <%s>", safeName(t.Name.Local))
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return decodeErr(ErrMalformed, "text after the root element")
			}
		case xml.Directive:
			return decodeErr(ErrMalformed, "directive after the root element")
		}
	}
}

// safeName shortens an element name for an error message.
func safeName(s string) string {
	const max = 40
	if len(s) > max {
		return s[:max] + "…"
	}
	return s
}

// parseSeconds reads a number of Unix seconds (<requesttime>, <created>),
// allowing surrounding white space.
func parseSeconds(text string) (int64, error) {
	return strconv.ParseInt(strings.TrimSpace(text), 10, 64)
}
