package regsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/regfleet/regfleet/internal/wire"
)

// fuzzSession is a session token planted in the fuzz clusters so that seeds
// reach the commands behind the session check.
const fuzzSession = "fuzzsession"

func fuzzCluster(tb testing.TB, salt string) *Cluster {
	c, err := NewCluster(Config{Users: 2, Salt: salt})
	if err != nil {
		tb.Fatal(err)
	}
	st := c.store
	st.mu.Lock()
	u := st.users["user0"]
	se := &session{token: fuzzSession, user: u, expires: time.Now().Add(24 * time.Hour)}
	st.sessions[se.token] = se
	st.nextDevice++
	d := &device{id: st.nextDevice, owner: u}
	st.devices[d.id] = d
	u.devices = append(u.devices, d)
	st.mu.Unlock()
	return c
}

// FuzzHandler feeds arbitrary bodies and checksums to an instance's
// handler, with and without a salt. It must never panic; every answer is
// 200 with a body that decodes as a reply, 400 or 413.
func FuzzHandler(f *testing.F) {
	seeds := []string{
		"<teamdrive><command>loginuser</command><username>user0</username><password>regfleet</password></teamdrive>",
		"<teamdrive><command>registeruser</command><requestid>r</requestid><username>n</username><email>e</email><password>p</password></teamdrive>",
		"<teamdrive><command>sendinvitation</command><requestid>r1</requestid><session>fuzzsession</session><spaceid>1</spaceid><recipient>user1</recipient><payload>cA==</payload></teamdrive>",
		"<teamdrive><command>sendinvitation</command><requestid>r2</requestid><session>fuzzsession</session><spaceid>1</spaceid><recipient>user0</recipient><payload>x</payload></teamdrive>",
		"<teamdrive><command>sendcomment</command><requestid>r3</requestid><session>fuzzsession</session><spaceid>1</spaceid><fileid>2</fileid><text>&amp;</text><recipients>user0,user1</recipients></teamdrive>",
		"<teamdrive><command>getmessages</command><session>fuzzsession</session><deviceid>1</deviceid><max>3</max></teamdrive>",
		"<teamdrive><command>ackmessages</command><session>fuzzsession</session><deviceid>1</deviceid><ids>1,2,3</ids></teamdrive>",
		"<teamdrive><command>changepassword</command><requestid>r4</requestid><session>fuzzsession</session><oldpassword>regfleet</oldpassword><newpassword>regfleet</newpassword></teamdrive>",
		"<teamdrive><command>sendpassword</command><username>user1</username></teamdrive>",
		"<teamdrive><command>setkeyrepository</command><requestid>r5</requestid><session>fuzzsession</session><enabled>true</enabled></teamdrive>",
		"<teamdrive><command>getsettings</command><session>fuzzsession</session></teamdrive>",
		"<teamdrive><command>registerdevice</command><requestid>r6</requestid><session>fuzzsession</session><devicename>d</devicename><publickey>k</publickey></teamdrive>",
		"<teamdrive><session>fuzzsession</session></teamdrive>",
		"<html><body>portal</body></html>",
		"not xml at all",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s), "", false)
	}
	f.Add([]byte(seeds[10]), wire.Checksum([]byte(seeds[10]), "salt"), true)
	plain := fuzzCluster(f, "")
	salted := fuzzCluster(f, "salt")
	f.Cleanup(func() {
		_ = plain.Close()
		_ = salted.Close()
	})
	f.Fuzz(func(t *testing.T, body []byte, checksum string, useSalt bool) {
		c := plain
		if useSalt {
			c = salted
		}
		target := wire.APIPath + "?checksum=" + url.QueryEscape(checksum)
		req := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		rec := httptest.NewRecorder()
		c.Instance(0).ServeHTTP(rec, req)
		switch rec.Code {
		case http.StatusOK:
			if _, err := wire.DecodeReply(rec.Body.Bytes()); err != nil {
				t.Fatalf("200 with an undecodable reply: %v\n%q", err, rec.Body.Bytes())
			}
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		default:
			t.Fatalf("status %d for %q", rec.Code, body)
		}
	})
}
