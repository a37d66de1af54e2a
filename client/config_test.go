package client

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestConfigRejected checks the exact text of New's error for configs that
// a user gets wrong: each names the field and says what to do.
func TestConfigRejected(t *testing.T) {
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"port over 65535", Config{URLs: []string{"https://reg.example.com:99999"}},
			`Config.URLs[0]: port 99999 in "https://reg.example.com:99999" is outside 1..65535`},
		{"port 0", Config{URLs: []string{"https://a"}, BackupURLs: []string{"http://b:0"}},
			`Config.BackupURLs[0]: port 0 in "http://b:0" is outside 1..65535`},
		{"default https port", Config{URLs: []string{"https://a", "https://A:443/"}},
			`Config.URLs[1]: "https://A:443/" is the same endpoint as URLs[0] ("https://a"): remove one`},
		{"default http port", Config{URLs: []string{"http://a:80"}, BackupURLs: []string{"http://a"}},
			`Config.BackupURLs[0]: "http://a" is the same endpoint as URLs[0] ("http://a:80"): remove one`},
		{"IPv6 default port", Config{URLs: []string{"https://[::1]", "https://[::1]:443"}},
			`Config.URLs[1]: "https://[::1]:443" is the same endpoint as URLs[0] ("https://[::1]"): remove one`},
		{"API path", Config{URLs: []string{"https://reg.example.com/pbas/td2as/api/api.htm"}},
			`Config.URLs[0]: "https://reg.example.com/pbas/td2as/api/api.htm" ends in the API path /pbas/td2as/api/api.htm, which the Client adds: drop the API path, give the base URL "https://reg.example.com"`},
		{"API path below a prefix", Config{URLs: []string{"https://a/reg/pbas/td2as/api/api.htm/"}},
			`Config.URLs[0]: "https://a/reg/pbas/td2as/api/api.htm/" ends in the API path /pbas/td2as/api/api.htm, which the Client adds: drop the API path, give the base URL "https://a/reg"`},
		{"no scheme, port", Config{URLs: []string{"reg.example.com:443"}},
			`Config.URLs[0]: no scheme in "reg.example.com:443": write "https://reg.example.com:443"`},
		{"no scheme", Config{URLs: []string{"reg.example.com"}},
			`Config.URLs[0]: no scheme in "reg.example.com": write "https://reg.example.com"`},
		{"no scheme, IP and port", Config{URLs: []string{"127.0.0.1:8080"}},
			`Config.URLs[0]: no scheme in "127.0.0.1:8080": write "https://127.0.0.1:8080"`},
		{"other scheme", Config{URLs: []string{"mailto:x"}},
			`Config.URLs[0]: scheme "mailto" is not http or https`},
		{"empty", Config{URLs: []string{" "}},
			`Config.URLs[0]: empty: give a base URL such as "https://reg.example.com"`},
		{"both wait bounds, crossed", Config{URLs: []string{"https://a"}, RetryWaitMin: 5 * time.Second, RetryWaitMax: time.Second},
			`Config.RetryWaitMax: 1s is below RetryWaitMin 5s: raise RetryWaitMax or lower RetryWaitMin`},
		{"both ejection bounds, crossed", Config{URLs: []string{"https://a"}, EjectionTime: time.Hour, MaxEjectionTime: time.Minute},
			`Config.MaxEjectionTime: 1m0s is below EjectionTime 1h0m0s: raise MaxEjectionTime or lower EjectionTime`},
		{"HTTP client timeout", Config{URLs: []string{"https://a"}, HTTPClient: &http.Client{Timeout: 30 * time.Second}},
			`Config.HTTPClient.Timeout: 30s is not used: set Config.AttemptTimeout to bound each attempt, and the call's context (context.WithTimeout) to bound a whole call`},
		{"redirect policy", Config{URLs: []string{"https://a"}, HTTPClient: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}},
			`Config.HTTPClient.CheckRedirect: is not used: the Client never follows redirects (a Registration Server does not redirect; a 3xx reply fails the attempt); leave it nil`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("New accepted the config")
			}
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%v does not wrap ErrInvalidConfig", err)
			}
			if want := "client: invalid config: " + tc.want; err.Error() != want {
				t.Errorf("got  %s\nwant %s", err, want)
			}
		})
	}
}

// TestConfigAccepted checks configs that New must accept, and the
// endpoints and bounds the Client then uses.
func TestConfigAccepted(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		check func(*config) string // "" when right
	}{
		{"default ports dropped", Config{URLs: []string{"https://A.example:443/", "http://b:80/x/", "http://c:8080"}},
			func(c *config) string {
				return want(c.primaries[0].String()+" "+c.primaries[1].String()+" "+c.primaries[2].String(), "https://a.example http://b/x http://c:8080")
			}},
		{"IPv6 port dropped", Config{URLs: []string{"https://[::1]:443"}},
			func(c *config) string { return want(c.primaries[0].String(), "https://[::1]") }},
		{"RetryWaitMin alone", Config{URLs: []string{"https://a"}, RetryWaitMin: 5 * time.Second},
			func(c *config) string { return want(c.RetryWaitMin.String()+" "+c.RetryWaitMax.String(), "5s 5s") }},
		{"RetryWaitMin alone, below the default max", Config{URLs: []string{"https://a"}, RetryWaitMin: time.Second},
			func(c *config) string { return want(c.RetryWaitMin.String()+" "+c.RetryWaitMax.String(), "1s 2s") }},
		{"RetryWaitMax alone", Config{URLs: []string{"https://a"}, RetryWaitMax: 10 * time.Millisecond},
			func(c *config) string { return want(c.RetryWaitMin.String()+" "+c.RetryWaitMax.String(), "10ms 10ms") }},
		{"EjectionTime alone", Config{URLs: []string{"https://a"}, EjectionTime: time.Hour},
			func(c *config) string {
				return want(c.EjectionTime.String()+" "+c.MaxEjectionTime.String(), "1h0m0s 1h0m0s")
			}},
		{"MaxEjectionTime alone", Config{URLs: []string{"https://a"}, MaxEjectionTime: time.Second},
			func(c *config) string { return want(c.EjectionTime.String()+" "+c.MaxEjectionTime.String(), "1s 1s") }},
		{"PollInterval alone", Config{URLs: []string{"https://a"}, PollInterval: time.Hour},
			func(c *config) string {
				return want(c.PollInterval.String()+" "+c.PollMaxInterval.String(), "1h0m0s 1h0m0s")
			}},
		{"PollMaxInterval alone", Config{URLs: []string{"https://a"}, PollMaxInterval: 10 * time.Second},
			func(c *config) string { return want(c.PollInterval.String()+" "+c.PollMaxInterval.String(), "10s 10s") }},
		{"HTTP client with a jar only", Config{URLs: []string{"https://a"}, HTTPClient: &http.Client{}},
			func(*config) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if msg := tc.check(c.cfg); msg != "" {
				t.Error(msg)
			}
		})
	}
}

func want(got, want string) string {
	if got != want {
		return "got " + got + ", want " + want
	}
	return ""
}

// TestPlainHTTPWarning checks that New warns once, naming the endpoints
// and never the password, when credentials would cross a network
// unencrypted, and stays quiet on https and loopback.
func TestPlainHTTPWarning(t *testing.T) {
	const password = "s3cret-pw"
	cases := []struct {
		name    string
		urls    []string
		backups []string
		cred    func(*Config)
		want    string // the warning's endpoints, "" for no warning
	}{
		{"plain http", []string{"http://reg.example.com", "https://reg2.example.com"}, []string{"http://10.0.0.9:8080/reg"},
			func(c *Config) { c.Username, c.Password = "alice", password },
			"http://reg.example.com, http://10.0.0.9:8080/reg"},
		{"session only", []string{"http://reg.example.com"}, nil, func(c *Config) { c.Session = "sess" }, "http://reg.example.com"},
		{"https", []string{"https://reg.example.com"}, nil, func(c *Config) { c.Username, c.Password = "alice", password }, ""},
		{"loopback", []string{"http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:8080", "http://localhost:8080", "http://LOCALHOST"}, nil,
			func(c *Config) { c.Username, c.Password = "alice", password }, ""},
		{"no credentials", []string{"http://reg.example.com"}, nil, func(*Config) {}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			cfg := Config{URLs: tc.urls, BackupURLs: tc.backups, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
			tc.cred(&cfg)
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c.Close()
			out := logs.String()
			if strings.Contains(out, password) {
				t.Errorf("the log carries the password: %s", out)
			}
			if tc.want == "" {
				if out != "" {
					t.Errorf("unexpected log: %s", out)
				}
				return
			}
			if n := strings.Count(out, "level=WARN"); n != 1 || strings.Count(out, "\n") != 1 {
				t.Errorf("want exactly one WARN record, got:\n%s", out)
			}
			if !strings.Contains(out, "endpoints=") || !strings.Contains(out, tc.want) || !strings.Contains(out, "use https") {
				t.Errorf("the warning does not name %s and say what to do: %s", tc.want, out)
			}
		})
	}
}
