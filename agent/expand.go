package agent

import (
	"os"
	"strings"
)

// ExpandEnv replaces ${VAR} and ${VAR:-default} in a configuration file
// with environment values, as Promtail does with -config.expand-env=true.
// Bare $VAR, $1 and ${1} (relabel replacement references) are left alone,
// and $${VAR} yields a literal ${VAR}.
func ExpandEnv(b []byte) []byte { return expandWith(b, os.LookupEnv) }

func expandWith(b []byte, lookup func(string) (string, bool)) []byte {
	s := string(b)
	var sb strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			sb.WriteString(s)
			return []byte(sb.String())
		}
		if i > 0 && s[i-1] == '$' { // $${ escapes
			sb.WriteString(s[:i-1])
			sb.WriteString("${")
			s = s[i+2:]
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			sb.WriteString(s)
			return []byte(sb.String())
		}
		expr := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			sb.WriteString(s[:i+end+1]) // not ours (e.g. ${1}): keep
			s = s[i+end+1:]
			continue
		}
		sb.WriteString(s[:i])
		if v, ok := lookup(name); ok && (v != "" || !hasDef) {
			sb.WriteString(v)
		} else if hasDef {
			sb.WriteString(def)
		}
		s = s[i+end+1:]
	}
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '_' && !(c >= 'a' && c <= 'z') && !(c >= 'A' && c <= 'Z') && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
