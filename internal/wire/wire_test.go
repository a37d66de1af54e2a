package wire

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestRequestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		req  Request
	}{
		{"login", Request{Command: CmdLoginUser, RequestTime: 1763800000, Fields: []Field{{"username", "alice"}, {"password", "s3cret"}}}},
		{"invitation", Request{Command: CmdSendInvitation, RequestTime: 1, RequestID: "7d3c", Session: "sess",
			Fields: []Field{{"spaceid", "12"}, {"recipient", "bob"}, {"payload", "aGVsbG8="}}}},
		{"markup in values", Request{Command: CmdSendComment, RequestID: "x", Fields: []Field{{"text", `<b>"a" & 'b'</b> ]]> 
	tab`}}}},
		{"carriage return and unicode", Request{Command: CmdSendComment, Fields: []Field{{"text", "a\r\nb ünï 😀"}}}},
		{"empty value", Request{Command: CmdGetSettings, Session: "s", Fields: []Field{{"extra", ""}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := EncodeRequest(&tt.req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeRequest(body)
			if err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			want := tt.req
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v\nbody %s", *got, want, body)
			}
			// What the encoder writes takes the fast path.
			if fast, ok := decodeRequestFast(body); !ok || !reflect.DeepEqual(*fast, want) {
				t.Errorf("fast path: %+v, %v\nbody %s", fast, ok, body)
			}
		})
	}
}

func TestEncodeRequestReplacesInvalidCharacters(t *testing.T) {
	body, err := EncodeRequest(&Request{Command: "x", Fields: []Field{{"f", "a\x00b\xffc"}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeRequest(body)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := got.Get("f"); v != "a\uFFFDb\uFFFDc" {
		t.Errorf("value = %q", v)
	}
}

func TestEncodeRequestRejects(t *testing.T) {
	tests := []struct {
		name string
		req  Request
		want error
	}{
		{"no command", Request{}, ErrMissingCommand},
		{"reserved field", Request{Command: "x", Fields: []Field{{"session", "s"}}}, nil},
		{"bad name", Request{Command: "x", Fields: []Field{{"a b", "s"}}}, nil},
		{"name starting with digit", Request{Command: "x", Fields: []Field{{"1a", "s"}}}, nil},
		{"too large", Request{Command: "x", Fields: []Field{{"p", strings.Repeat("a", MaxBodySize)}}}, ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := EncodeRequest(&tt.req)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReplyRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		reply Reply
	}{
		{"result", Reply{Fields: []Field{{"userid", "42"}, {"session", "abc"}}}},
		{"ok", Reply{Fields: []Field{{"ok", ""}}}},
		{"exception", Reply{Exception: &Exception{PrimaryCode: CodeDatabase, SecondaryCode: "2003", Message: "Can't connect to MySQL server"}}},
		{"messages", Reply{
			Fields: []Field{{"pollinterval", "30"}},
			Messages: []Message{
				{ID: "1", Type: "invitation", From: "alice", SpaceID: "7", Payload: "cGF5", Created: 1763800000},
				{ID: "2", Type: "comment", From: "bob", SpaceID: "7", Payload: "<x>&", Created: 1763800001},
			}}},
		{"no messages", Reply{Fields: []Field{{"pollinterval", "30"}}, Messages: []Message{}}},
		{"settings", Reply{Settings: []Field{{"pollinterval", "60"}, {"keyrepository", "true"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := EncodeReply(&tt.reply)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeReply(body)
			if err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			want := tt.reply
			if len(want.Messages) == 0 {
				want.Messages = nil // an empty <messages/> decodes as none
			}
			if !reflect.DeepEqual(*got, want) {
				t.Errorf("round trip:\n got %+v\nwant %+v\nbody %s", *got, want, body)
			}
		})
	}
}

// TestDecodeReplyProtocolExamples decodes the documents PROTOCOL.md shows.
func TestDecodeReplyProtocolExamples(t *testing.T) {
	r, err := DecodeReply([]byte(`<teamdrive><invitationid>42</invitationid></teamdrive>`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := r.Get("invitationid"); !ok || v != "42" {
		t.Errorf("invitationid = %q, %v", v, ok)
	}
	r, err = DecodeReply([]byte(`<?xml version='1.0' encoding='UTF-8' ?>
<teamdrive><exception>
  <primarycode>-30100</primarycode><secondarycode></secondarycode><message>Username does not exist</message>
</exception></teamdrive>`))
	if err != nil {
		t.Fatal(err)
	}
	want := &Exception{PrimaryCode: CodeUserUnknown, Message: "Username does not exist"}
	if !reflect.DeepEqual(r.Exception, want) {
		t.Errorf("exception = %+v, want %+v", r.Exception, want)
	}
	if got := r.Exception.Error(); got != "exception -30100: Username does not exist" {
		t.Errorf("Error() = %q", got)
	}
}

func TestDecodeReplySkipsUnknownNestedElements(t *testing.T) {
	r, err := DecodeReply([]byte(`<teamdrive><userid>1</userid><future><a>1</a><b/></future><session>s</session></teamdrive>`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Field{{"userid", "1"}, {"future", ""}, {"session", "s"}}
	if !reflect.DeepEqual(r.Fields, want) {
		t.Errorf("fields = %+v, want %+v", r.Fields, want)
	}

	// The same holds inside <message>, <settings> and <exception>.
	r, err = DecodeReply([]byte(`<teamdrive><pollinterval>30</pollinterval>` +
		`<messages><message><id>1</id><attachments><a>x</a></attachments><type>comment</type></message></messages>` +
		`<settings><pollinterval>60</pollinterval><limits><max>5</max></limits></settings></teamdrive>`))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Messages) != 1 || r.Messages[0].ID != "1" || r.Messages[0].Type != "comment" {
		t.Errorf("messages = %+v", r.Messages)
	}
	if want := []Field{{"pollinterval", "60"}, {"limits", ""}}; !reflect.DeepEqual(r.Settings, want) {
		t.Errorf("settings = %+v, want %+v", r.Settings, want)
	}
	r, err = DecodeReply([]byte(`<teamdrive><exception><primarycode>-30100</primarycode><details><x/></details></exception></teamdrive>`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Exception == nil || r.Exception.PrimaryCode != CodeUserUnknown {
		t.Errorf("exception = %+v", r.Exception)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		want error
		req  bool // decode as a request rather than a reply
	}{
		{"empty", "", ErrMalformed, false},
		{"plain text", "Service Unavailable", ErrMalformed, false},
		{"html page", "<html><body>Login to the hotel wifi</body></html>", ErrWrongRoot, false},
		{"html doctype", "<!DOCTYPE html><html></html>", ErrMalformed, false},
		{"truncated", "<teamdrive><userid>4", ErrMalformed, false},
		{"unclosed root", "<teamdrive>", ErrMalformed, false},
		{"mismatched tags", "<teamdrive><a></b></teamdrive>", ErrMalformed, false},
		{"two roots", "<teamdrive/><teamdrive/>", ErrMalformed, false},
		{"text after root", "<teamdrive/>junk", ErrMalformed, false},
		{"stray text", "<teamdrive>junk<a/></teamdrive>", ErrMalformed, false},
		{"namespaced root", `<x:teamdrive xmlns:x="urn:x"/>`, ErrWrongRoot, false},
		{"other encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><teamdrive/>`, ErrMalformed, false},
		{"exception without code", "<teamdrive><exception><message>m</message></exception></teamdrive>", ErrMalformed, false},
		{"exception with text code", "<teamdrive><exception><primarycode>x</primarycode></exception></teamdrive>", ErrMalformed, false},
		{"message without id", "<teamdrive><messages><message><type>t</type></message></messages></teamdrive>", ErrMalformed, false},
		{"too large", "<teamdrive>" + strings.Repeat(" ", MaxBodySize) + "</teamdrive>", ErrTooLarge, false},
		{"request without command", "<teamdrive><session>s</session></teamdrive>", ErrMissingCommand, true},
		{"request with empty command", "<teamdrive><command/></teamdrive>", ErrMissingCommand, true},
		{"request nested field", "<teamdrive><command>x</command><a><b/></a></teamdrive>", ErrMalformed, true},
		{"request bad time", "<teamdrive><command>x</command><requesttime>soon</requesttime></teamdrive>", ErrMalformed, true},
		{"request wrong root", "<td><command>x</command></td>", ErrWrongRoot, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.req {
				_, err = DecodeRequest([]byte(tt.body))
			} else {
				_, err = DecodeReply([]byte(tt.body))
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Errorf("err %T is not a *DecodeError", err)
			}
		})
	}
}

func TestDecodeErrorDoesNotQuoteContent(t *testing.T) {
	for _, body := range []string{
		"<teamdrive><session>topsecret-token</session>junk-topsecret</teamdrive>",
		"<teamdrive><session>&topsecret-token;</session></teamdrive>",
		`<?xml version="1.0" encoding="topsecret-token"?><teamdrive/>`,
		`<?xml version="topsecret"?><teamdrive/>`,
	} {
		_, err := DecodeReply([]byte(body))
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%s: err = %v, want ErrMalformed", body, err)
		}
		if strings.Contains(err.Error(), "topsecret") {
			t.Errorf("error quotes the body: %v", err)
		}
	}
}

func TestDecodeElementLimit(t *testing.T) {
	body := "<teamdrive>" + strings.Repeat("<a/>", maxFields+1) + "</teamdrive>"
	if _, err := DecodeReply([]byte(body)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("err = %v, want ErrMalformed", err)
	}
}

func TestChecksum(t *testing.T) {
	// printf 'bodysalt' | md5sum
	const want = "07256612540c65b3014149a01c7f3f4d"
	got := Checksum([]byte("body"), "salt")
	if got != want {
		t.Fatalf("Checksum = %q, want %q", got, want)
	}
	if !VerifyChecksum([]byte("body"), "salt", got) {
		t.Error("VerifyChecksum rejects the right checksum")
	}
	if VerifyChecksum([]byte("body!"), "salt", got) || VerifyChecksum([]byte("body"), "pepper", got) || VerifyChecksum([]byte("body"), "salt", "") {
		t.Error("VerifyChecksum accepts a wrong checksum")
	}
}

func TestExceptionError(t *testing.T) {
	e := &Exception{PrimaryCode: CodeDatabase, SecondaryCode: SecondaryMySQLConnect}
	if got := e.Error(); got != "exception -12507 (2003)" {
		t.Errorf("Error() = %q", got)
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	r := &Request{Command: CmdGetMessages, RequestTime: 1763800000, Session: "0123456789abcdef",
		Fields: []Field{{"deviceid", "17"}, {"max", "100"}}}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		buf, err = AppendRequest(buf[:0], r)
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeReply(b *testing.B) {
	body, err := EncodeReply(&Reply{Fields: []Field{{"pollinterval", "30"}}, Messages: []Message{
		{ID: "1", Type: "invitation", From: "alice", SpaceID: "7", Payload: "cGF5bG9hZA==", Created: 1763800000},
	}})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeReply(body); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAppendPreservesPrefix(t *testing.T) {
	prefix := []byte("prefix")
	out, err := AppendRequest(prefix, &Request{Command: ""})
	if err == nil || !bytes.Equal(out, prefix) {
		t.Errorf("failed append changed the prefix: %q, %v", out, err)
	}
}

// benchRequest is a getmessages request as a client sends it.
func benchRequest(b *testing.B) []byte {
	body, err := EncodeRequest(&Request{Command: CmdGetMessages, RequestTime: 1763800000, Session: "UE5CMHJTTURTSUFQV0pQVUtPRUc2Q1FTUTdaRlhVNlE",
		Fields: []Field{{"deviceid", "17"}, {"max", "100"}}})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkDecodeRequest measures DecodeRequest (the fast path, for this
// canonical body) and, for comparison, the encoding/xml path.
func BenchmarkDecodeRequest(b *testing.B) {
	body := benchRequest(b)
	for _, bm := range []struct {
		name   string
		decode func([]byte) (*Request, error)
	}{{"fast", DecodeRequest}, {"xml", decodeRequestXML}} {
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bm.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
