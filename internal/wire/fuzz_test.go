package wire

import (
	"errors"
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
