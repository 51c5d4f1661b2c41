package agent

import "testing"

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"NODE_NAME": "node-1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct{ name, in, want string }{
		{"variable", "host: ${NODE_NAME}", "host: node-1"},
		{"default when unset", "url: ${LOKI_URL:-http://loki:3100}", "url: http://loki:3100"},
		{"default when empty", "x: ${EMPTY:-d}", "x: d"},
		{"unset without default is empty", "x: '${NOPE}'", "x: ''"},
		{"relabel references are kept", "replacement: $1 ${1} /var/log/pods/*$1/*.log", "replacement: $1 ${1} /var/log/pods/*$1/*.log"},
		{"escaped", "x: $${NODE_NAME}", "x: ${NODE_NAME}"},
		{"unterminated", "x: ${NODE_NAME", "x: ${NODE_NAME"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := string(expandWith([]byte(tc.in), lookup)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func FuzzExpandEnv(f *testing.F) {
	f.Add("a ${B:-c} $${D} ${1} ${")
	f.Fuzz(func(t *testing.T, s string) {
		none := func(string) (string, bool) { return "", false }
		out := expandWith([]byte(s), none)
		if len(out) > len(s) {
			t.Fatalf("expanding with no variables grew %q to %q", s, out)
		}
	})
}
