package wire

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// FuzzDecodeReplyFast checks the fast path of DecodeReply against
// encoding/xml on every input: where decodeReplyFast answers, its reply must
// equal decodeReplyXML's (which must not fail), DecodeReply must always
// answer exactly as decodeReplyXML, and the fast path must take every
// document EncodeReply writes.
func FuzzDecodeReplyFast(f *testing.F) {
	for _, s := range []string{
		"<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><pollinterval>30</pollinterval><messages/></teamdrive>",
		"<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><pollinterval>30</pollinterval><messages><message><id>1</id><type>invitation</type><from>a</from><spaceid>7</spaceid><payload>cA==</payload><created>1763800000</created></message><message><id>2</id><type>comment</type><from/><spaceid/><payload/><created>0</created></message></messages></teamdrive>",
		"<?xml version='1.0' encoding='UTF-8' ?>\n<teamdrive><exception><primarycode>-12507</primarycode><secondarycode>2003</secondarycode><message>db &amp; down</message></exception></teamdrive>",
		"<teamdrive><exception><primarycode> -30100 </primarycode><secondarycode> x </secondarycode></exception><userid>1</userid></teamdrive>",
		"<teamdrive><userid>1</userid><exception><primarycode>x</primarycode></exception></teamdrive>",
		"<teamdrive><exception/><exception></exception></teamdrive>",
		"<teamdrive><exception><message>m</message><primarycode>1</primarycode><primarycode>2</primarycode></exception></teamdrive>",
		"<teamdrive><settings><pollinterval>60</pollinterval><a/></settings><settings/><settings>\n</settings></teamdrive>",
		"<teamdrive><messages></messages><messages> </messages><messages><message><id>1</id></message></messages></teamdrive>",
		"<teamdrive><messages><message/></messages></teamdrive>",
		"<teamdrive><messages><message><type>x</type></message></messages></teamdrive>",
		"<teamdrive><messages><other>t</other><message><id>1</id></message></messages></teamdrive>",
		"<teamdrive><messages><message><id>1</id><id/><created>5</created><created/><created> 7 </created></message></messages></teamdrive>",
		"<teamdrive><messages><message><id>1</id><created>z</created></message></messages></teamdrive>",
		"<teamdrive><messages><message><id>1</id><x><y/></x></message></messages></teamdrive>",
		"<teamdrive><ok/><a>&lt;&gt;&amp;&apos;&quot;&#xD;&#13;&#x1F600;&#65;</a><b>a]]>b</b><c>a\rb</c></teamdrive>",
		"<teamdrive><a><b>t</b></a><c><![CDATA[x]]></c><!-- c --><?pi x?></teamdrive>",
		"<teamdrive><a x='1'>t</a><x:y>t</x:y><a >t</a ></teamdrive>",
		"<teamdrive><messages>text</messages><settings>text</settings></teamdrive>",
		"<teamdrive><a>ünï \xff\x01 😀</a></teamdrive>",
		"<teamdrive><teamdrive>t</teamdrive></teamdrive> \n",
		"<teamdrive><a>t</a></teamdrive><!-- after -->",
		"<teamdrive><a>t</a>\u00a0<b/></teamdrive>",
		"<teamdrive><a>t</a></teamdrive",
		"<teamdrive><messages><message><id>1</id></message></teamdrive>",
		"<teamdrive/>",
		"<html><body>captive portal</body></html>",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		want, wantErr := decodeReplyXML(body)
		if fast, ok := decodeReplyFast(body); ok {
			if wantErr != nil {
				t.Fatalf("fast path accepts what encoding/xml rejects (%v):\n%q\n%+v", wantErr, body, fast)
			}
			if !reflect.DeepEqual(fast, want) {
				t.Fatalf("fast path differs:\n%q\n fast %+v\n  xml %+v", body, fast, want)
			}
		}
		got, err := DecodeReply(body)
		if !reflect.DeepEqual(got, want) || fmt.Sprint(err) != fmt.Sprint(wantErr) {
			t.Fatalf("DecodeReply differs from encoding/xml:\n%q\n%+v %v\n%+v %v", body, got, err, want, wantErr)
		}
		if wantErr != nil {
			return
		}
		canonical, err := EncodeReply(want)
		if err != nil {
			return // names the encoder does not write
		}
		fast, ok := decodeReplyFast(canonical)
		if !ok {
			t.Fatalf("fast path refuses an encoded reply:\n%q", canonical)
		}
		if back, _ := decodeReplyXML(canonical); !reflect.DeepEqual(fast, back) {
			t.Fatalf("fast path differs on an encoded reply:\n%q\n fast %+v\n  xml %+v", canonical, fast, back)
		}
	})
}

// TestDecodeReplyFastTakesCanonical checks that the replies the server
// writes take the fast path, and that the element limit defers to
// encoding/xml.
func TestDecodeReplyFastTakesCanonical(t *testing.T) {
	for _, r := range []*Reply{
		{Fields: []Field{{Name: "pollinterval", Value: "30"}}, Messages: []Message{}},
		{Fields: []Field{{Name: "pollinterval", Value: "30"}}, Messages: []Message{{ID: "1", Type: "invitation", From: "a<b", SpaceID: "7", Payload: "cA==", Created: 1763800000}}},
		{Settings: []Field{{Name: "pollinterval", Value: "60"}, {Name: "empty"}}},
		{Exception: &Exception{PrimaryCode: CodeDatabase, SecondaryCode: SecondaryMySQLConnect, Message: "no db"}},
		{Fields: []Field{{Name: "ok"}}},
	} {
		body, err := EncodeReply(r)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := decodeReplyFast(body)
		if !ok {
			t.Fatalf("fast path refuses %q", body)
		}
		want, err := decodeReplyXML(body)
		if err != nil || !reflect.DeepEqual(fast, want) {
			t.Fatalf("%q:\n fast %+v\n  xml %+v %v", body, fast, want, err)
		}
	}
	many := "<teamdrive>" + strings.Repeat("<a/>", maxFields+1) + "</teamdrive>"
	if _, ok := decodeReplyFast([]byte(many)); ok {
		t.Fatal("fast path accepts more than maxFields elements")
	}
	if _, err := DecodeReply([]byte(many)); err == nil {
		t.Fatal("DecodeReply accepts more than maxFields elements")
	}
}

func BenchmarkDecodeReplyFastVsXML(b *testing.B) {
	body, err := EncodeReply(&Reply{Fields: []Field{{Name: "pollinterval", Value: "30"}},
		Messages: []Message{{ID: "1", Type: "invitation", From: "alice", SpaceID: "7", Payload: "cGF5bG9hZA==", Created: 1763800000}}})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		decode func([]byte) (*Reply, error)
	}{{"fast", DecodeReply}, {"xml", decodeReplyXML}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := bc.decode(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
