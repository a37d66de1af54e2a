package monitoring

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/regfleet/regfleet/internal/nagios"
	"github.com/regfleet/regfleet/regsim"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// site is the examples' three hosts on loopback: two simulated instances
// and a reverse proxy in front of instance 0 as the load balancer.
type site struct {
	c       *regsim.Cluster
	lb      *httptest.Server
	addr    map[string]string // example host name → loopback host:port
	pluginD string            // where regprobe is built
}

func startSite(t *testing.T) *site {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build regprobe with")
	}
	dir := t.TempDir()
	build := exec.Command(goBin, "build", "-o", filepath.Join(dir, "regprobe"), "github.com/regfleet/regfleet/cmd/regprobe")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	c, err := regsim.Start(regsim.Config{Instances: 2, Users: 1}, regsim.StartOptions{ControlAddr: "-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	target, _ := url.Parse(c.URLs()[0])
	lb := httptest.NewServer(httputil.NewSingleHostReverseProxy(target))
	t.Cleanup(lb.Close)
	host := func(u string) string { return strings.TrimPrefix(u, "http://") }
	return &site{c: c, lb: lb, pluginD: dir, addr: map[string]string{
		"regserv01.example.com": host(c.URLs()[0]),
		"regserv02.example.com": host(c.URLs()[1]),
		"reg.example.com":       host(lb.URL),
	}}
}

// localize rewrites an example URL or option for the loopback site: its
// hosts to loopback ports, https to http (regsim serves plain HTTP).
func (s *site) localize(v string) string {
	for name, addr := range s.addr {
		v = strings.ReplaceAll(v, "https://"+name, "http://"+addr)
	}
	return v
}

// check is one service's check as the monitoring software runs it.
type check struct {
	name string
	argv []string
	env  []string
}

// run runs the check as the scheduler does: the command line, an
// environment with only what the definition sets, stdout read as plugin
// output.
func (ck check) run(t *testing.T) (int, nagios.Output, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, ck.argv[0], ck.argv[1:]...)
	cmd.Env = ck.env
	var out bytes.Buffer
	cmd.Stdout = &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", ck.name, err)
	}
	t.Logf("%s: %q → exit %d: %s", ck.name, redactArgs(ck.argv[1:]), code, strings.SplitN(out.String(), "\n", 2)[0])
	o, perr := nagios.ParseOutput(out.String())
	if perr != nil {
		t.Errorf("%s: output a monitoring system would misread: %v\n%s", ck.name, perr, out.String())
	}
	return code, o, out.String()
}

// icingaChecks reads regprobe.conf and builds the command line of each
// Service's check, the site's own settings applied: the password constant,
// the monitoring user, and plain HTTP on loopback ports.
func icingaChecks(t *testing.T, s *site) []check {
	t.Helper()
	objs, err := parseIcinga(readFile(t, "regprobe.conf"), map[string]any{"RegprobePassword": regsim.DefaultPassword})
	if err != nil {
		t.Fatalf("regprobe.conf: %v", err)
	}
	hosts := map[string]icingaObject{}
	var cmd icingaObject
	var services []icingaObject
	for _, o := range objs {
		switch o.typ {
		case "CheckCommand":
			cmd = o
		case "Host":
			hosts[o.name] = o
		case "Service":
			services = append(services, o)
		}
	}
	if cmd.name != "regprobe" || len(services) != 3 {
		t.Fatalf("regprobe.conf: command %q and %d services, want regprobe and 3", cmd.name, len(services))
	}
	cmd.attrs["command"] = []any{filepath.Join(s.pluginD, "regprobe")} // PluginDir + "/regprobe"
	var checks []check
	for _, svc := range services {
		host, ok := hosts[svc.attrs["host_name"].(string)]
		if !ok || svc.attrs["check_command"] != "regprobe" {
			t.Fatalf("service %q: host %v, command %v", svc.name, svc.attrs["host_name"], svc.attrs["check_command"])
		}
		// The site: loopback addresses, plain HTTP, regsim's user.
		addr := s.addr[host.attrs["address"].(string)]
		h, port, _ := strings.Cut(addr, ":")
		host.attrs = map[string]any{"address": h}
		vars := map[string]any{}
		for k, v := range svc.attrs {
			vars[k] = v
		}
		vars["vars.regprobe_port"] = port
		vars["vars.regprobe_ssl"] = false
		vars["vars.regprobe_user"] = "user0"
		if inst, ok := vars["vars.regprobe_instances"].([]any); ok {
			var local []any
			for _, u := range inst {
				local = append(local, s.localize(u.(string)))
			}
			vars["vars.regprobe_instances"] = local
		}
		svc.attrs = vars
		argv, env, err := commandLine(cmd, host, svc)
		if err != nil {
			t.Fatalf("service %q on %q: %v", svc.name, host.name, err)
		}
		checks = append(checks, check{name: "icinga " + svc.name + " on " + svc.attrs["host_name"].(string), argv: argv, env: env})
	}
	return checks
}

// nagiosChecks reads regprobe.cfg and builds the command line of each
// service's check on each of its hosts, with resource.cfg's $USERn$ and the
// site's loopback ports and plain HTTP.
func nagiosChecks(t *testing.T, s *site) []check {
	t.Helper()
	objs, err := parseNagios(readFile(t, "regprobe.cfg"))
	if err != nil {
		t.Fatalf("regprobe.cfg: %v", err)
	}
	commands := map[string]string{}
	hosts := map[string]string{}
	var services []nagiosObject
	for _, o := range objs {
		switch o.typ {
		case "command":
			commands[o.attrs["command_name"]] = o.attrs["command_line"]
		case "host":
			hosts[o.attrs["host_name"]] = o.attrs["address"]
		case "service":
			services = append(services, o)
		}
	}
	var checks []check
	for _, svc := range services {
		parts := strings.Split(svc.attrs["check_command"], "!")
		line, ok := commands[parts[0]]
		if !ok {
			t.Fatalf("service %q: no command %q", svc.attrs["service_description"], parts[0])
		}
		for _, hostName := range strings.Split(svc.attrs["host_name"], ",") {
			address, ok := hosts[hostName]
			if !ok {
				t.Fatalf("service %q: no host %q", svc.attrs["service_description"], hostName)
			}
			h, port, _ := strings.Cut(s.addr[address], ":")
			macros := map[string]string{
				"USER1": s.pluginD, "USER2": "user0", "USER3": regsim.DefaultPassword,
				"HOSTADDRESS": h,
			}
			for i, a := range parts[1:] {
				macros["ARG"+string(rune('1'+i))] = a
			}
			// The site: loopback port instead of 443, plain HTTP.
			macros["ARG1"] = port
			macros["ARG4"] = strings.TrimSpace(strings.ReplaceAll(" "+s.localize(macros["ARG4"])+" ", " -S ", " "))
			expanded, err := nagiosMacros(line, macros)
			if err != nil {
				t.Fatalf("service %q: %v", svc.attrs["service_description"], err)
			}
			argv, err := splitCommand(expanded)
			if err != nil {
				t.Fatal(err)
			}
			checks = append(checks, check{name: "nagios " + svc.attrs["service_description"] + " on " + hostName, argv: argv})
		}
	}
	return checks
}

// TestCommandDefinitions runs every check of the example definitions, as
// Icinga 2 and Nagios would build them, against the loopback site: all OK
// when all is well; with instance 2 stopped, its own check CRITICAL naming
// the outage, the other instance OK, and the service WARNING.
func TestCommandDefinitions(t *testing.T) {
	s := startSite(t)
	for _, defs := range []struct {
		name   string
		checks func(*testing.T, *site) []check
	}{{"icinga2", icingaChecks}, {"nagios", nagiosChecks}} {
		t.Run(defs.name, func(t *testing.T) {
			checks := defs.checks(t, s)
			if len(checks) != 3 {
				t.Fatalf("%d checks, want 3 (two instances, the service)", len(checks))
			}
			for _, ck := range checks {
				if strings.Contains(strings.Join(ck.argv, " "), regsim.DefaultPassword) && defs.name == "icinga2" {
					t.Errorf("%s: the password is on the command line: %q", ck.name, ck.argv)
				}
				if code, o, out := ck.run(t); code != 0 {
					t.Errorf("%s: exit %d, want 0 (OK)\nargv %q\n%s", ck.name, code, ck.argv, out)
				} else if _, ok := o.Lookup("time"); !ok {
					t.Errorf("%s: no time in the performance data\n%s", ck.name, out)
				}
			}

			s.c.Instance(1).SetFault(regsim.Fault{Down: true})
			defer s.c.Instance(1).SetFault(regsim.Fault{})
			want := map[string]int{"regserv01": 0, "regserv02": 2, "reg-lb": 1}
			for _, ck := range checks {
				host := ck.name[strings.LastIndex(ck.name, " ")+1:]
				code, o, out := ck.run(t)
				if code != want[host] {
					t.Errorf("%s with regserv02 stopped: exit %d, want %d\nargv %q\n%s", ck.name, code, want[host], ck.argv, out)
				}
				if code != 0 && !strings.Contains(o.Summary, "connection refused") {
					t.Errorf("%s: status line does not name the outage: %s", ck.name, o.Summary)
				}
			}
		})
	}
}

// redactArgs hides the value of --password for logging.
func redactArgs(argv []string) []string {
	out := append([]string(nil), argv...)
	for i := range out {
		if out[i] == "--password" && i+1 < len(out) {
			out[i+1] = "***"
		}
	}
	return out
}
