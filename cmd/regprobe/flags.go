package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/regfleet/regfleet/internal/nagios"
)

// Defaults of the options.
const (
	defaultTimeout  = 10 * time.Second
	defaultWarning  = "500"  // ms
	defaultCritical = "2000" // ms
	defaultWarnDown = 1
	passwordEnv     = "REGPROBE_PASSWORD"
)

// action is what the command line asks for.
type action int

const (
	actCheck action = iota
	actHelp
	actVersion
)

// config is a parsed and validated command line.
type config struct {
	service   *endpoint  // the load balancer's URL in service mode, else nil
	endpoints []endpoint // the URLs checked (plain mode) or the service's instances
	timeout   time.Duration
	latency   nagios.Thresholds // round trip in ms, from -w and -c
	warnDown  int               // WARNING from this many endpoints down (0: off)
	critDown  int               // CRITICAL from this many endpoints down (0: all)
	user      string
	password  string
	salt      string
	insecure  bool
	caFile    string
}

// endpoint is one URL the check probes.
type endpoint struct {
	role  string // "service", "instance" or "" (plain mode)
	url   string // as given (printed through redact)
	label string // performance-data label: host:port[/path]
}

// name is the endpoint's printed name: its role and redacted URL.
func (e endpoint) name() string {
	if e.role == "" {
		return redact(e.url)
	}
	return e.role + " " + redact(e.url)
}

// newFlags declares the options on a FlagSet that prints nothing itself.
func newFlags(o *rawOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("regprobe", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.SortFlags = false
	fs.StringArrayVarP(&o.hosts, "hostname", "H", nil, "host name or address of an endpoint: http://HOST[:PORT] (repeatable)")
	fs.IntVarP(&o.port, "port", "p", 0, "port for -H (default 80, 443 with -S)")
	fs.BoolVarP(&o.ssl, "ssl", "S", false, "https for -H")
	fs.StringArrayVar(&o.urls, "url", nil, "base URL of an endpoint, http(s)://host[:port][/prefix] (repeatable)")
	fs.StringArrayVar(&o.instances, "instance", nil, "service mode: base URL of an instance behind the one -H/--url, the load balancer (repeatable)")
	fs.StringVarP(&o.warning, "warning", "w", defaultWarning, "round trip in ms that is WARNING, as a range (\"\" = none)")
	fs.StringVarP(&o.critical, "critical", "c", defaultCritical, "round trip in ms that is CRITICAL, as a range (\"\" = none)")
	fs.IntVar(&o.warnDown, "warning-down", defaultWarnDown, "WARNING when at least this many endpoints (instances) are down (0 = never)")
	fs.IntVar(&o.critDown, "critical-down", 0, "CRITICAL when at least this many endpoints (instances) are down (0 = all of them)")
	fs.StringVarP(&o.timeout, "timeout", "t", strconv.Itoa(int(defaultTimeout/time.Second)), "time limit of the whole check, in seconds or as a duration (300ms)")
	fs.StringVar(&o.user, "user", "", "log in as this user before getsettings (optional)")
	fs.StringVar(&o.password, "password", "", "password for --user (better: the environment variable "+passwordEnv+")")
	fs.StringVar(&o.salt, "salt", "", "API checksum salt, when the server requires one")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS certificate verification (never in production)")
	fs.StringVar(&o.caFile, "ca-file", "", "PEM file of CA certificates to trust instead of the system pool")
	fs.BoolVarP(&o.help, "help", "h", false, "print this help and exit")
	fs.BoolVarP(&o.version, "version", "V", false, "print the version and exit")
	return fs
}

// rawOptions are the flags as given.
type rawOptions struct {
	hosts, urls, instances []string
	port                   int
	ssl                    bool
	warning, critical      string
	warnDown, critDown     int
	timeout                string
	user, password, salt   string
	insecure               bool
	caFile                 string
	help, version          bool
}

// parseArgs parses and checks the command line. --help and --version win
// over everything else, a bad option included, as the guidelines ask.
func parseArgs(args []string, getenv func(string) string) (*config, action, error) {
	for _, a := range args {
		if a == "--" {
			break
		}
		switch a {
		case "-h", "--help":
			return nil, actHelp, nil
		case "-V", "--version":
			return nil, actVersion, nil
		}
	}
	var o rawOptions
	fs := newFlags(&o)
	if err := fs.Parse(args); err != nil {
		return nil, actCheck, err
	}
	if o.help {
		return nil, actHelp, nil
	}
	if o.version {
		return nil, actVersion, nil
	}
	if fs.NArg() > 0 {
		return nil, actCheck, fmt.Errorf("unexpected argument %q (every option has a name, see --help)", fs.Arg(0))
	}
	c := &config{
		warnDown: o.warnDown, critDown: o.critDown,
		user: o.user, password: o.password, salt: o.salt, insecure: o.insecure, caFile: o.caFile,
	}
	if c.password == "" {
		c.password = getenv(passwordEnv)
	}
	var err error
	if c.timeout, err = parseTimeout(o.timeout); err != nil {
		return nil, actCheck, err
	}
	if c.latency.Warning, err = parseThreshold("-w/--warning", o.warning); err != nil {
		return nil, actCheck, err
	}
	if c.latency.Critical, err = parseThreshold("-c/--critical", o.critical); err != nil {
		return nil, actCheck, err
	}
	targets, err := targetURLs(&o, fs)
	if err != nil {
		return nil, actCheck, err
	}
	seen := map[string]bool{}
	for _, raw := range append(append([]string(nil), targets...), o.instances...) {
		if err := checkURL(raw); err != nil {
			return nil, actCheck, err
		}
		key := strings.TrimSuffix(raw, "/")
		if seen[key] {
			return nil, actCheck, fmt.Errorf("%s given twice", redact(raw))
		}
		seen[key] = true
	}
	if len(o.instances) > 0 {
		if len(targets) != 1 {
			return nil, actCheck, fmt.Errorf("--instance needs exactly one -H or --url, the service's (load balancer's) address; %d given", len(targets))
		}
		c.service = &endpoint{role: "service", url: targets[0], label: "service"}
		for _, u := range o.instances {
			c.endpoints = append(c.endpoints, endpoint{role: "instance", url: u})
		}
	} else {
		for _, u := range targets {
			c.endpoints = append(c.endpoints, endpoint{url: u})
		}
	}
	setLabels(c.endpoints)
	switch {
	case c.warnDown < 0 || c.critDown < 0:
		return nil, actCheck, errors.New("--warning-down and --critical-down must not be negative")
	case c.user != "" && c.password == "":
		return nil, actCheck, fmt.Errorf("--user needs --password or %s", passwordEnv)
	case c.user == "" && c.password != "" && o.password != "":
		return nil, actCheck, errors.New("--password without --user")
	}
	return c, actCheck, nil
}

// targetURLs returns the URLs of -H (with -p and -S) and --url, in that order.
func targetURLs(o *rawOptions, fs *pflag.FlagSet) ([]string, error) {
	if len(o.hosts) == 0 {
		switch {
		case fs.Changed("port"):
			return nil, errors.New("-p/--port needs -H/--hostname")
		case o.ssl:
			return nil, errors.New("-S/--ssl needs -H/--hostname")
		}
	}
	if o.port < 0 || o.port > 65535 {
		return nil, fmt.Errorf("-p/--port %d is not a port", o.port)
	}
	scheme, port := "http", 80
	if o.ssl {
		scheme, port = "https", 443
	}
	if o.port != 0 {
		port = o.port
	}
	var urls []string
	for _, h := range o.hosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			return nil, fmt.Errorf("-H %q is not a host name or address (a URL goes to --url)", redact(h))
		}
		h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
		urls = append(urls, scheme+"://"+net.JoinHostPort(h, strconv.Itoa(port)))
	}
	urls = append(urls, o.urls...)
	if len(urls) == 0 {
		return nil, errors.New("no endpoint: give -H HOST or --url URL")
	}
	return urls, nil
}

func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an http(s) URL", redact(raw))
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%q: %q is not a port", redact(raw), p)
		}
	}
	return nil
}

// setLabels gives each endpoint a performance-data label, its host:port and
// path, numbered when two would be the same.
func setLabels(eps []endpoint) {
	count := map[string]int{}
	for i := range eps {
		eps[i].label = hostLabel(eps[i].url)
		count[eps[i].label]++
	}
	for i := range eps {
		if count[eps[i].label] > 1 {
			eps[i].label = fmt.Sprintf("%s#%d", eps[i].label, i+1)
		}
	}
}

func hostLabel(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "endpoint"
	}
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port) + strings.TrimSuffix(u.EscapedPath(), "/")
}

// parseTimeout reads -t: whole or fractional seconds ("10", "2.5"), or a Go
// duration ("300ms").
func parseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		if !(n > 0 && n <= 3600) { // NaN too
			return 0, fmt.Errorf("-t/--timeout %q: seconds must be in (0, 3600]", s)
		}
		d = time.Duration(n * float64(time.Second))
	} else {
		d, err = time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("-t/--timeout %q is neither seconds nor a duration", s)
		}
		if d <= 0 || d > time.Hour {
			return 0, fmt.Errorf("-t/--timeout %q must be in (0, 1h]", s)
		}
	}
	return d, nil
}

// parseThreshold reads -w or -c; "" means no threshold.
func parseThreshold(flag, s string) (*nagios.Range, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	r, err := nagios.ParseRange(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %v (ranges: 500, 10:, ~:500, 10:500, @10:500; in ms)", flag, err)
	}
	return &r, nil
}

// redact drops user information and the query from a URL for printing.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	u.RawQuery = ""
	u.Fragment = ""
	return u.String()
}

// help is what --help prints.
func help(fs *pflag.FlagSet) string {
	return `regprobe checks a Registration Server, as a Nagios, Icinga or Centreon plugin.

Usage:
  regprobe -H HOST [-p PORT] [-S] [options]        one instance (or any endpoint)
  regprobe --url URL [--url URL ...] [options]     several endpoints, one check
  regprobe --url LB --instance URL ... [options]   the service behind a load balancer

For each endpoint it asks GET /healthz and makes one getsettings round trip
(after loginuser with --user), then prints one status line with performance
data and one line per endpoint, and exits 0 OK, 1 WARNING, 2 CRITICAL or
3 UNKNOWN.

  OK        every endpoint answers, round trips within -w
  WARNING   a round trip in the -w range, or --warning-down endpoints down
  CRITICAL  a round trip in the -c range, or --critical-down endpoints down
            (all, by default); with --instance: the service itself is down
  UNKNOWN   bad options, or the check cannot tell: login refused (wrong
            --user or --password), checksum refused (--salt), interrupted

Service mode (--instance): the one -H/--url is the load balancer's address
and each --instance an instance behind it, probed directly. The service is
CRITICAL when its own address fails and WARNING when it answers but an
instance is down; check each instance on its own too (-H), where that is
CRITICAL.

Ranges (-w, -c) follow the plugin guidelines, in milliseconds:
  500     alert above 500 (or below 0)     10:      alert below 10
  ~:500   alert above 500                  10:500   alert outside 10..500
  @10:500 alert inside 10..500

Performance data: time (ms, U when the endpoint did not answer, max the
timeout), up (endpoints or instances answering), and with several endpoints
'HOST:PORT time' for each.

Options:
` + fs.FlagUsages() + `
Examples:
  regprobe -H regserv01.example.com -S -w 500 -c 2000 --user monitor
  regprobe --url https://reg.example.com --instance https://regserv01.example.com \
      --instance https://regserv02.example.com -t 15

The password is best passed in ` + passwordEnv + ` (Icinga 2: env in the
CheckCommand), as the command line shows in ps.
`
}
