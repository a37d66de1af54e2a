package wire

import (
	"bytes"
	"unicode/utf8"
)

// fastDecls are the XML declarations the fast path accepts: the one
// EncodeRequest writes and the common double-quoted forms.
var fastDecls = [...]string{
	"<?xml version='1.0' encoding='UTF-8' ?>",
	`<?xml version="1.0" encoding="UTF-8"?>`,
	`<?xml version="1.0" encoding="utf-8"?>`,
	`<?xml version="1.0"?>`,
}

// decodeRequestFast decodes the canonical subset of request documents
// without encoding/xml. It accepts, in order: ASCII white space, at most one
// declaration of fastDecls, ASCII white space, <teamdrive> without
// attributes, children <name>text</name> or <name/> with ASCII names (no
// namespace prefix, no attributes, no white space inside the tags) separated
// by ASCII white space, </teamdrive>, ASCII white space. Text is UTF-8 XML
// characters with the five predefined entities and numeric character
// references of XML characters, and no raw carriage return, "]]>", comment,
// CDATA section or processing instruction.
//
// ok is false for any other document and for every document that
// decodeRequestXML rejects (too large, too many elements, a bad
// <requesttime>, no <command>), so that the caller falls back to
// decodeRequestXML, which then decides and words the error. Where ok is true
// the result equals decodeRequestXML's; FuzzDecodeRequestFast checks this.
func decodeRequestFast(body []byte) (r *Request, ok bool) {
	p, ok := fastPrologue(body)
	if !ok {
		return nil, false
	}
	f := fastScanner{b: body}
	r = &Request{}
	for {
		name, open, q, ok := f.nextChild(p, rootName)
		if !ok {
			return nil, false
		}
		if name == nil {
			p = q
			break
		}
		var text string
		if text, p, ok = f.text(q, name, open); !ok {
			return nil, false
		}
		switch string(name) {
		case "command":
			r.Command = text
		case "requesttime":
			if text == "" {
				continue
			}
			t, err := parseSeconds(text)
			if err != nil {
				return nil, false
			}
			r.RequestTime = t
		case "requestid":
			r.RequestID = text
		case "session":
			r.Session = text
		default:
			if r.Fields == nil {
				r.Fields = make([]Field, 0, 4)
			}
			r.Fields = append(r.Fields, Field{Name: fieldName(name), Value: text})
		}
	}
	if skipSpace(body, p) != len(body) || r.Command == "" {
		return nil, false
	}
	return r, true
}

var rootName = []byte("teamdrive")

// fastScanner is the state of the fast decoders: the body and the number of
// elements seen below the root.
type fastScanner struct {
	b     []byte
	count int
}

// nextChild reads, after white space at p, either the end tag of parent
// (name is nil) or the start tag of a child: <name> (open) or <name/>. It
// returns the index after the tag; ok is false outside the subset.
func (f *fastScanner) nextChild(p int, parent []byte) (name []byte, open bool, end int, ok bool) {
	b := f.b
	p = skipSpace(b, p)
	if p >= len(b) || b[p] != '<' {
		return nil, false, 0, false // text between elements, or truncated
	}
	p++
	if hasPrefixAt(b, p, "/") {
		if !bytes.HasPrefix(b[p+1:], parent) || !hasPrefixAt(b, p+1+len(parent), ">") {
			return nil, false, 0, false
		}
		return nil, false, p + 2 + len(parent), true
	}
	nameEnd := scanName(b, p)
	if nameEnd == p {
		return nil, false, 0, false
	}
	if f.count++; f.count > maxFields {
		return nil, false, 0, false
	}
	name = b[p:nameEnd]
	switch {
	case hasPrefixAt(b, nameEnd, "/>"):
		return name, false, nameEnd + 2, true
	case hasPrefixAt(b, nameEnd, ">"):
		return name, true, nameEnd + 1, true
	}
	return nil, false, 0, false // attributes, a namespace prefix, ...
}

// text reads the content of the simple element name whose start tag ended
// before p, and its end tag.
func (f *fastScanner) text(p int, name []byte, open bool) (string, int, bool) {
	if !open {
		return "", p, true
	}
	b := f.b
	text, end, ok := scanText(b, p)
	if !ok || !hasPrefixAt(b, end, "</") ||
		!bytes.HasPrefix(b[end+2:], name) || !hasPrefixAt(b, end+2+len(name), ">") {
		return "", 0, false // a child element, a comment, a wrong end tag, ...
	}
	return text, end + 3 + len(name), true
}

// fieldName returns name as a string, without allocating for the field
// names of PROTOCOL.md.
func fieldName(name []byte) string {
	switch string(name) {
	case "username":
		return "username"
	case "password":
		return "password"
	case "email":
		return "email"
	case "deviceid":
		return "deviceid"
	case "max":
		return "max"
	case "ids":
		return "ids"
	case "devicename":
		return "devicename"
	case "publickey":
		return "publickey"
	case "spaceid":
		return "spaceid"
	case "recipient":
		return "recipient"
	case "recipients":
		return "recipients"
	case "payload":
		return "payload"
	case "fileid":
		return "fileid"
	case "text":
		return "text"
	case "oldpassword":
		return "oldpassword"
	case "newpassword":
		return "newpassword"
	case "enabled":
		return "enabled"
	}
	return string(name)
}

// skipSpace returns the index of the first byte at or after p that is not
// XML white space.
func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\n' || b[p] == '\t' || b[p] == '\r') {
		p++
	}
	return p
}

func hasPrefixAt(b []byte, p int, prefix string) bool {
	return p <= len(b) && len(b)-p >= len(prefix) && string(b[p:p+len(prefix)]) == prefix
}

// scanName returns the end of the plain ASCII element name at p: a letter or
// '_', then letters, digits, '_', '-' or '.'. It returns p when there is
// none.
func scanName(b []byte, p int) int {
	i := p
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case i > p && (c >= '0' && c <= '9' || c == '-' || c == '.'):
		default:
			return i
		}
	}
	return i
}

// scanText decodes the character data at p up to the next '<' and returns
// it with the index of that '<'. ok is false for anything outside the
// canonical subset (see decodeRequestFast) and at the end of the body.
func scanText(b []byte, p int) (text string, end int, ok bool) {
	var buf []byte // decoded text, once an entity was met
	start := p     // start of the raw run not yet copied to buf
	for i := p; i < len(b); {
		c := b[i]
		switch {
		case c == '<':
			if buf == nil {
				return string(b[p:i]), i, true
			}
			buf = append(buf, b[start:i]...)
			return string(buf), i, true
		case c == '&':
			r, n := scanEntity(b[i:])
			if n == 0 {
				return "", 0, false
			}
			if buf == nil {
				buf = make([]byte, 0, len(b[p:i])+64)
			}
			buf = append(buf, b[start:i]...)
			buf = utf8.AppendRune(buf, r)
			i += n
			start = i
		case c == '>':
			if i-p >= 2 && b[i-1] == ']' && b[i-2] == ']' {
				return "", 0, false // "]]>" outside CDATA
			}
			i++
		case c >= 0x20 && c < utf8.RuneSelf, c == '\n', c == '\t':
			i++
		case c < utf8.RuneSelf:
			return "", 0, false // '\r' (normalized by XML) or a control character
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 || !validXMLRune(r) {
				return "", 0, false
			}
			i += n
		}
	}
	return "", 0, false
}

// scanEntity decodes the entity or character reference at the start of b
// ("&amp;", "&#60;", "&#x3C;", ...) and returns its character and length,
// or a length of 0 when it is anything else or not an XML character.
func scanEntity(b []byte) (rune, int) {
	for _, e := range [...]struct {
		s string
		r rune
	}{{"&lt;", '<'}, {"&gt;", '>'}, {"&amp;", '&'}, {"&apos;", '\''}, {"&quot;", '"'}} {
		if hasPrefixAt(b, 0, e.s) {
			return e.r, len(e.s)
		}
	}
	if !hasPrefixAt(b, 0, "&#") {
		return 0, 0
	}
	i, base := 2, rune(10)
	if hasPrefixAt(b, 2, "x") {
		i, base = 3, 16
	}
	digits := i
	var r rune
	for ; i < len(b) && i-digits < 8; i++ { // 8 digits cannot overflow
		d := digitValue(b[i])
		if d >= base {
			break
		}
		r = r*base + d
	}
	if i == digits || i >= len(b) || b[i] != ';' || !validXMLRune(r) {
		return 0, 0
	}
	return r, i + 1
}

// digitValue returns the value of the hexadecimal digit c, or 16 when c is
// not one.
func digitValue(c byte) rune {
	switch {
	case c >= '0' && c <= '9':
		return rune(c - '0')
	case c >= 'a' && c <= 'f':
		return rune(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return rune(c-'A') + 10
	}
	return 16
}

// fastPrologue checks the size, skips one of the fixed XML declarations and
// the <teamdrive> start tag, and returns the offset after it; ok is false
// for anything else, which the fast decoders then leave to encoding/xml.
func fastPrologue(body []byte) (p int, ok bool) {
	if len(body) > MaxBodySize {
		return 0, false
	}
	p = skipSpace(body, 0)
	for _, decl := range fastDecls {
		if hasPrefixAt(body, p, decl) {
			p = skipSpace(body, p+len(decl))
			break
		}
	}
	if !hasPrefixAt(body, p, "<teamdrive>") {
		return 0, false
	}
	return p + len("<teamdrive>"), true
}
