package wire

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// FuzzDecode feeds arbitrary bodies to both decoders. Neither may panic, every
// failure must be a *DecodeError, and whatever decodes must survive an
// encode/decode round trip unchanged.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		"<teamdrive><invitationid>42</invitationid></teamdrive>",
		"<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><command>loginuser</command><requesttime>1763800000</requesttime><username>a</username><password>b</password></teamdrive>",
		"<teamdrive><exception><primarycode>-30100</primarycode><secondarycode></secondarycode><message>Username does not exist</message></exception></teamdrive>",
		"<teamdrive><pollinterval>30</pollinterval><messages><message><id>1</id><type>invitation</type><from>a</from><spaceid>7</spaceid><payload>cA==</payload><created>1</created></message></messages></teamdrive>",
		"<teamdrive><settings><pollinterval>60</pollinterval></settings></teamdrive>",
		"<html><body>captive portal</body></html>",
		"<!DOCTYPE x [<!ENTITY a 'b'>]><teamdrive>&a;</teamdrive>",
		"<teamdrive><command>x</command><v>&#xD;&lt;&amp;</v></teamdrive>",
		"<teamdrive><a><b><c/></b></a></teamdrive>",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		reply, err := DecodeReply(body)
		checkDecodeErr(t, err)
		if err == nil {
			again, err := EncodeReply(reply)
			if err == nil {
				back, err := DecodeReply(again)
				if err != nil {
					t.Fatalf("re-encoded reply does not decode: %v\n%s", err, again)
				}
				if !reflect.DeepEqual(normalReply(back), normalReply(reply)) {
					t.Fatalf("reply round trip changed:\n%+v\n%+v", reply, back)
				}
			}
		}
		req, err := DecodeRequest(body)
		checkDecodeErr(t, err)
		if err == nil {
			again, err := EncodeRequest(req)
			if err == nil {
				back, err := DecodeRequest(again)
				if err != nil {
					t.Fatalf("re-encoded request does not decode: %v\n%s", err, again)
				}
				if !reflect.DeepEqual(back, req) {
					t.Fatalf("request round trip changed:\n%+v\n%+v", req, back)
				}
			}
		}
	})
}

func checkDecodeErr(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T %v is not a *DecodeError", err, err)
	}
	for _, kind := range []error{ErrTooLarge, ErrMalformed, ErrWrongRoot, ErrMissingCommand} {
		if errors.Is(err, kind) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

// normalReply maps the empty and nil forms of the lists to one.
func normalReply(r *Reply) Reply {
	n := *r
	if len(n.Messages) == 0 {
		n.Messages = nil
	}
	if len(n.Settings) == 0 {
		n.Settings = nil
	}
	if len(n.Fields) == 0 {
		n.Fields = nil
	}
	return n
}

// FuzzDecodeRequestFast checks the fast path of DecodeRequest against
// encoding/xml on every input: where decodeRequestFast answers, its request
// must equal decodeRequestXML's (which must not fail), DecodeRequest must
// always answer exactly as decodeRequestXML, and the fast path must take
// every document EncodeRequest writes.
func FuzzDecodeRequestFast(f *testing.F) {
	for _, s := range []string{
		"<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><command>getmessages</command><requesttime>1763800000</requesttime><session>s</session><deviceid>17</deviceid><max>100</max></teamdrive>",
		`<?xml version="1.0" encoding="UTF-8"?><teamdrive><command>x</command></teamdrive>`,
		`<?xml version="1.0"?>` + "\r\n<teamdrive>\r\n <command>x</command>\r\n</teamdrive>\r\n",
		"<teamdrive><command>x</command><v>&lt;&gt;&amp;&apos;&quot;&#xD;&#13;&#x1F600;&#65;</v><e/></teamdrive>",
		"<teamdrive><command>x</command><v>&#x;&#;&#0;&#xD800;&#X41;&#99999999;&#x110000;&nbsp;&amp</v></teamdrive>",
		"<teamdrive><command>x</command><v>a]]>b</v><w>]]&gt;</w><u>]&#93;></u></teamdrive>",
		"<teamdrive><command>x</command><v>a\rb</v><w>a\r\nb</w></teamdrive>",
		"<teamdrive><command>x</command><v><![CDATA[<&>]]></v><!-- c --><?pi x?></teamdrive>",
		"<teamdrive><command>x</command><v a='1'>t</v><x:y>t</x:y><v >t</v ></teamdrive>",
		"<teamdrive><command>x</command><requesttime> 12 </requesttime><requesttime/><requesttime>z</requesttime></teamdrive>",
		"<teamdrive><command>a</command><command>b</command><requestid>r</requestid><session/></teamdrive>",
		"<teamdrive><command>x</command><v>ünï \xff\x01 😀</v></teamdrive>",
		"<teamdrive><command>x</command><teamdrive>t</teamdrive></teamdrive> \n",
		"<teamdrive><command>x</command></teamdrive><!-- after -->",
		"\ufeff<teamdrive><command>x</command></teamdrive>",
		"<teamdrive><command>x</command>\u00a0<v>t</v></teamdrive>",
		"<teamdrive><command>x</command><v>t</v></teamdrive",
		"<teamdrive/>",
		"<teamdrive><session>s</session></teamdrive>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := decodeRequestXML(body)
		if fast, ok := decodeRequestFast(body); ok {
			if wantErr != nil {
				t.Fatalf("fast path accepts what encoding/xml rejects (%v):\n%q\n%+v", wantErr, body, fast)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("fast path differs:\n%q\n fast %+v\n  xml %+v", body, fast, want)
			}
		}
		got, err := DecodeRequest(body)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("DecodeRequest differs from encoding/xml:\n%q\n%+v %v\n%+v %v", body, got, err, want, wantErr)
		}
		if wantErr != nil {
			return
		}
		canonical, err := EncodeRequest(want)
		if err != nil {
			return // names the encoder does not write
		}
		fast, ok := decodeRequestFast(canonical)
		if !ok {
			t.Fatalf("fast path refuses an encoded request:\n%q", canonical)
		}
		if back, _ := decodeRequestXML(canonical); !reflect.DeepEqual(fast, back) {
			t.Fatalf("fast path differs on an encoded request:\n%q\n fast %+v\n  xml %+v", canonical, fast, back)
		}
	})
}
