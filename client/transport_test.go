package client

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/regfleet/regfleet/regsim"
)

// TestOwnTransportClosed checks that a Client built without a transport
// (no HTTPClient, or one without a Transport) leaves no connection
// goroutine behind after Close, while its server is still up
// (http.DefaultTransport would keep the idle connections and their
// goroutines, and the server's).
func TestOwnTransportClosed(t *testing.T) {
	cl, err := regsim.Start(regsim.Config{Instances: 2, Users: 1}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for name, hc := range map[string]*http.Client{"no HTTPClient": nil, "no Transport": {}} {
		t.Run(name, func(t *testing.T) {
			before := goleak.IgnoreCurrent()
			c, err := New(Config{URLs: cl.URLs(), Username: "user0", Password: regsim.DefaultPassword, HTTPClient: hc})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if _, err := c.Login(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := c.GetSettings(ctx); err != nil { // the second endpoint too
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			goleak.VerifyNone(t, before)
		})
	}
}

// TestSuppliedTransportKeptOpen checks that Close leaves the idle
// connections of a transport the application supplied alone: another
// client of the application may be using them.
func TestSuppliedTransportKeptOpen(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		io.WriteString(w, `<teamdrive><ok/></teamdrive>`)
	}))
	defer srv.Close()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	for range 2 {
		c, err := New(Config{URLs: []string{srv.URL}, Session: "s", HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.SetKeyRepository(context.Background(), true); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	if len(conns) != 1 {
		t.Errorf("two clients in turn on one supplied transport used %d connections, want 1 (Close closed the application's connection)", len(conns))
	}
}

// childEnv names the child test a test runs in a fresh process, where
// http.ProxyFromEnvironment and the system's CA pool read the environment
// the parent set (both read it once per process).
const childEnv = "REGFLEET_TRANSPORT_CHILD"

// runChild runs the test named by test in a new process of this test binary
// with env added, and fails t when it fails.
func runChild(t *testing.T, test string, env ...string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+test,
		"HTTP_PROXY=", "http_proxy=", "HTTPS_PROXY=", "https_proxy=", "NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS: "+test) {
		t.Fatalf("%s in a child process: %v\n%s", test, err, out)
	}
}

// inChild reports whether t runs as runChild's child; otherwise it skips t.
func inChild(t *testing.T) {
	if os.Getenv(childEnv) != t.Name() {
		t.Skip("runs in a child process of another test")
	}
}

// childLogin logs in on url with the Client's own transport.
func childLogin(t *testing.T, url string) {
	c, err := New(Config{URLs: []string{url}, Username: "user0", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(context.Background()); err != nil {
		t.Fatal(err)
	}
}

const loginReply = `<?xml version='1.0' encoding='UTF-8' ?><teamdrive><userid>1</userid><session>s1</session></teamdrive>`

// TestOwnTransportProxy checks that the Client's own transport sends a call
// through the proxy HTTP_PROXY names, as desktops behind corporate proxies
// need.
func TestOwnTransportProxy(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.RequestURI)
		mu.Unlock()
		io.WriteString(w, loginReply)
	}))
	defer proxy.Close()
	runChild(t, "TestOwnTransportProxyChild", "HTTP_PROXY="+proxy.URL, "REGFLEET_TARGET=http://reg.example.com")
	mu.Lock()
	defer mu.Unlock()
	want := "POST http://reg.example.com/pbas/td2as/api/api.htm"
	if len(seen) != 1 || seen[0] != want {
		t.Errorf("the proxy saw %q, want [%q]", seen, want)
	}
}

func TestOwnTransportProxyChild(t *testing.T) {
	inChild(t)
	childLogin(t, os.Getenv("REGFLEET_TARGET"))
}

// TestOwnTransportTLS checks that the Client's own transport trusts the
// system's CA pool (here SSL_CERT_FILE), verifies the server's certificate,
// and speaks HTTP/2 over TLS.
func TestOwnTransportTLS(t *testing.T) {
	var mu sync.Mutex
	var protos []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		protos = append(protos, r.Proto)
		mu.Unlock()
		io.WriteString(w, loginReply)
	}))
	srv.EnableHTTP2 = true
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	roots := filepath.Join(t.TempDir(), "roots.pem")
	if err := os.WriteFile(roots, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	runChild(t, "TestOwnTransportTLSChild", "SSL_CERT_FILE="+roots, "SSL_CERT_DIR="+t.TempDir(), "REGFLEET_TARGET="+srv.URL)
	mu.Lock()
	defer mu.Unlock()
	if len(protos) != 1 || protos[0] != "HTTP/2.0" {
		t.Errorf("the server saw %q, want one HTTP/2.0 request", protos)
	}

	// Without the server's certificate among the roots, verification fails.
	c, err := New(Config{URLs: []string{srv.URL}, Username: "user0", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Login(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("login on an untrusted certificate: %v, want a certificate error", err)
	}
}

func TestOwnTransportTLSChild(t *testing.T) {
	inChild(t)
	childLogin(t, os.Getenv("REGFLEET_TARGET"))
}
