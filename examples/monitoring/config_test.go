package monitoring

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// ---- Icinga 2: the subset of its configuration language regprobe.conf uses ----

// icingaObject is one "object Type "name" { ... }".
type icingaObject struct {
	typ, name string
	attrs     map[string]any // "vars.x" for custom variables
}

// icingaDict is a dictionary with its keys in order.
type icingaDict struct {
	keys []string
	vals map[string]any
}

type icingaParser struct {
	toks   []string
	pos    int
	consts map[string]any
}

// parseIcinga parses consts and objects; consts may be overridden by the
// site (constants.conf) through override.
func parseIcinga(src string, override map[string]any) ([]icingaObject, error) {
	toks, err := icingaTokens(src)
	if err != nil {
		return nil, err
	}
	p := &icingaParser{toks: toks, consts: map[string]any{"PluginDir": "/usr/lib/nagios/plugins"}}
	var objs []icingaObject
	for p.pos < len(p.toks) {
		switch t := p.next(); t {
		case "const":
			name := p.next()
			if err := p.expect("="); err != nil {
				return nil, err
			}
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			p.consts[name] = v
			if o, ok := override[name]; ok {
				p.consts[name] = o
			}
		case "object":
			o := icingaObject{typ: p.next(), attrs: map[string]any{}}
			name, err := p.str()
			if err != nil {
				return nil, err
			}
			o.name = name
			if err := p.expect("{"); err != nil {
				return nil, err
			}
			for p.peek() != "}" {
				path := p.next()
				if err := p.expect("="); err != nil {
					return nil, err
				}
				v, err := p.expr()
				if err != nil {
					return nil, fmt.Errorf("%s %q: %s: %w", o.typ, o.name, path, err)
				}
				o.attrs[path] = v
			}
			p.next()
			objs = append(objs, o)
		default:
			return nil, fmt.Errorf("unexpected %q at top level", t)
		}
	}
	return objs, nil
}

func (p *icingaParser) next() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	p.pos++
	return p.toks[p.pos-1]
}

func (p *icingaParser) peek() string {
	if p.pos >= len(p.toks) {
		return ""
	}
	return p.toks[p.pos]
}

func (p *icingaParser) expect(t string) error {
	if got := p.next(); got != t {
		return fmt.Errorf("want %q, got %q", t, got)
	}
	return nil
}

func (p *icingaParser) str() (string, error) {
	t := p.next()
	if !strings.HasPrefix(t, `"`) {
		return "", fmt.Errorf("want a string, got %q", t)
	}
	return strconv.Unquote(t)
}

func (p *icingaParser) expr() (any, error) {
	v, err := p.term()
	for err == nil && p.peek() == "+" {
		p.next()
		var w any
		if w, err = p.term(); err == nil {
			v = fmt.Sprint(v) + fmt.Sprint(w)
		}
	}
	return v, err
}

func (p *icingaParser) term() (any, error) {
	t := p.next()
	switch {
	case strings.HasPrefix(t, `"`):
		return strconv.Unquote(t)
	case t == "true" || t == "false":
		return t == "true", nil
	case t == "[":
		var arr []any
		for p.peek() != "]" {
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
			if p.peek() == "," {
				p.next()
			}
		}
		p.next()
		return arr, nil
	case t == "{":
		d := icingaDict{vals: map[string]any{}}
		for p.peek() != "}" {
			k := p.next()
			if strings.HasPrefix(k, `"`) {
				k, _ = strconv.Unquote(k)
			}
			if err := p.expect("="); err != nil {
				return nil, err
			}
			v, err := p.expr()
			if err != nil {
				return nil, err
			}
			d.keys = append(d.keys, k)
			d.vals[k] = v
		}
		p.next()
		return d, nil
	case t != "" && (unicode.IsDigit(rune(t[0])) || t[0] == '-'):
		n := strings.TrimRight(t, "smhd") // 30s: a duration in seconds
		f, err := strconv.ParseFloat(n, 64)
		if err != nil {
			return nil, fmt.Errorf("bad number %q", t)
		}
		return f, nil
	default:
		if v, ok := p.consts[t]; ok {
			return v, nil
		}
		return nil, fmt.Errorf("unknown name %q", t)
	}
}

func icingaTokens(src string) ([]string, error) {
	var toks []string
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ';':
			i++
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment")
			}
			i += end + 4
		case strings.HasPrefix(src[i:], "//") || c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(src) {
				return nil, fmt.Errorf("unterminated string")
			}
			toks = append(toks, src[i:j+1])
			i = j + 1
		case strings.ContainsRune("{}[]=+,", rune(c)):
			toks = append(toks, string(c))
			i++
		default:
			j := i
			for j < len(src) && !strings.ContainsRune(" \t\r\n;{}[]=+,\"", rune(src[j])) {
				j++
			}
			toks = append(toks, src[i:j])
			i = j
		}
	}
	return toks, nil
}

// icingaScope resolves $name$ macros as Icinga does for a service's check:
// the service's custom variables, then the host's, then the command's;
// $check_address$ and $address$ are the host's address.
type icingaScope struct {
	host, service, command icingaObject
}

func (s icingaScope) lookup(name string) (any, bool) {
	if name == "check_address" || name == "address" || name == "host.address" {
		v, ok := s.host.attrs["address"]
		return v, ok
	}
	for _, o := range []icingaObject{s.service, s.host, s.command} {
		if v, ok := o.attrs["vars."+name]; ok {
			return v, true
		}
	}
	return nil, false
}

// resolve expands the macros of v; ok is false when one has no value (the
// argument is then left out). A string that is one macro takes the macro's
// value as it is (an array stays an array).
func (s icingaScope) resolve(v any) (any, bool) {
	str, isStr := v.(string)
	if !isStr {
		return v, true
	}
	if len(str) > 2 && str[0] == '$' && str[len(str)-1] == '$' && !strings.Contains(str[1:len(str)-1], "$") {
		val, ok := s.lookup(str[1 : len(str)-1])
		if !ok {
			return nil, false
		}
		return s.resolve(val)
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(str, '$')
		if i < 0 {
			b.WriteString(str)
			return b.String(), true
		}
		j := strings.IndexByte(str[i+1:], '$')
		if j < 0 {
			return nil, false
		}
		val, ok := s.lookup(str[i+1 : i+1+j])
		if !ok {
			return nil, false
		}
		r, ok := s.resolve(val)
		if !ok {
			return nil, false
		}
		b.WriteString(str[:i] + scalar(r))
		str = str[i+2+j:]
	}
}

func scalar(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// commandLine builds the argv and environment of the check of service on
// host, as Icinga 2 does from its CheckCommand: arguments sorted by order,
// a value that does not resolve (or resolves to "") leaves its argument
// out, set_if adds the bare key, repeat_key repeats it for each element.
func commandLine(cmd, host, service icingaObject) (argv []string, env []string, err error) {
	s := icingaScope{host: host, service: service, command: cmd}
	for _, c := range cmd.attrs["command"].([]any) {
		argv = append(argv, fmt.Sprint(c))
	}
	args := cmd.attrs["arguments"].(icingaDict)
	type arg struct {
		key   string
		order float64
		words []string
	}
	var built []arg
	for _, key := range args.keys {
		spec := icingaDict{vals: map[string]any{"value": args.vals[key]}}
		if d, ok := args.vals[key].(icingaDict); ok {
			spec = d
		}
		a := arg{key: key}
		if o, ok := spec.vals["order"].(float64); ok {
			a.order = o
		}
		if cond, ok := spec.vals["set_if"]; ok {
			v, ok := s.resolve(cond)
			if ok && (v == true || v == "true" || v == "1") {
				a.words = []string{key}
				built = append(built, a)
			}
			continue
		}
		v, ok := s.resolve(spec.vals["value"])
		if !ok || v == "" {
			if spec.vals["required"] == true {
				return nil, nil, fmt.Errorf("argument %s: required value %v does not resolve", key, spec.vals["value"])
			}
			continue
		}
		if arr, isArr := v.([]any); isArr {
			for _, e := range arr {
				if spec.vals["repeat_key"] == true || len(a.words) == 0 {
					a.words = append(a.words, key)
				}
				a.words = append(a.words, scalar(e))
			}
		} else {
			a.words = []string{key, scalar(v)}
		}
		built = append(built, a)
	}
	sort.SliceStable(built, func(i, j int) bool { return built[i].order < built[j].order })
	for _, a := range built {
		argv = append(argv, a.words...)
	}
	if e, ok := cmd.attrs["env"].(icingaDict); ok {
		for _, k := range e.keys {
			if v, ok := s.resolve(e.vals[k]); ok {
				env = append(env, k+"="+scalar(v))
			}
		}
	}
	return argv, env, nil
}

// ---- Nagios: object definitions and command lines ----

// nagiosObject is one "define type { key value ... }".
type nagiosObject struct {
	typ   string
	attrs map[string]string
}

func parseNagios(src string) ([]nagiosObject, error) {
	var objs []nagiosObject
	var cur *nagiosObject
	for n, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		switch {
		case cur == nil && strings.HasPrefix(line, "define ") && strings.HasSuffix(line, "{"):
			cur = &nagiosObject{typ: strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "define "), "{")), attrs: map[string]string{}}
		case cur != nil && line == "}":
			objs = append(objs, *cur)
			cur = nil
		case cur != nil:
			k, v, _ := strings.Cut(line, " ")
			cur.attrs[k] = strings.TrimSpace(v)
		default:
			return nil, fmt.Errorf("line %d: %q outside a definition", n+1, line)
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("unterminated define %s", cur.typ)
	}
	return objs, nil
}

// nagiosMacros expands $NAME$ in s from macros; an unknown macro is an error.
func nagiosMacros(s string, macros map[string]string) (string, error) {
	var b strings.Builder
	for {
		i := strings.IndexByte(s, '$')
		if i < 0 {
			return b.String() + s, nil
		}
		j := strings.IndexByte(s[i+1:], '$')
		if j < 0 {
			return "", fmt.Errorf("unterminated macro in %q", s)
		}
		v, ok := macros[s[i+1:i+1+j]]
		if !ok {
			return "", fmt.Errorf("macro $%s$ has no value", s[i+1:i+1+j])
		}
		b.WriteString(s[:i] + v)
		s = s[i+2+j:]
	}
}

// splitCommand splits an expanded command line into words as Nagios does
// without a shell: on blanks, with single and double quotes.
func splitCommand(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, in = c, true
		case c == ' ' || c == '\t':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote in %q", s)
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
