package discovery

import (
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// hasMeta reports whether s contains glob metacharacters.
func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// Glob returns the regular files (or symlinks to them) matching pattern,
// sorted. Besides filepath.Match syntax, a path segment `**` matches zero or
// more directories. Unreadable directories are skipped.
func Glob(pattern string) ([]string, error) {
	pattern = filepath.Clean(pattern)
	if !strings.Contains(pattern, "**") {
		if _, err := filepath.Match(pattern, ""); err != nil {
			return nil, err
		}
		m, _ := filepath.Glob(pattern)
		return regularOnly(m), nil
	}
	segs := strings.Split(filepath.ToSlash(pattern), "/")
	// The walk starts at the longest prefix without metacharacters.
	i := 0
	for i < len(segs)-1 && !hasMeta(segs[i]) && segs[i] != "**" {
		i++
	}
	root := strings.Join(segs[:i], "/")
	if root == "" {
		root = "/"
		if !strings.HasPrefix(pattern, "/") {
			root = "."
		}
	}
	for _, s := range segs[i:] {
		if s != "**" {
			if _, err := path.Match(s, ""); err != nil {
				return nil, err
			}
		}
	}
	var out []string
	_ = filepath.WalkDir(filepath.FromSlash(root), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if Match(pattern, p) && isRegular(p) {
			out = append(out, p)
		}
		return nil
	})
	sort.Strings(out)
	return out, nil
}

func regularOnly(paths []string) []string {
	out := paths[:0]
	for _, p := range paths {
		if isRegular(p) {
			out = append(out, p)
		}
	}
	return out
}

func isRegular(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Match reports whether name matches pattern, where a `**` segment matches
// zero or more path segments. Malformed patterns match nothing.
func Match(pattern, name string) bool {
	ps := strings.Split(filepath.ToSlash(filepath.Clean(pattern)), "/")
	ns := strings.Split(filepath.ToSlash(filepath.Clean(name)), "/")
	return matchSegs(ps, ns)
}

func matchSegs(ps, ns []string) bool {
	for len(ps) > 0 {
		if ps[0] == "**" {
			// Collapse repeated ** and try every split.
			for len(ps) > 1 && ps[1] == "**" {
				ps = ps[1:]
			}
			if len(ps) == 1 {
				return true
			}
			for k := 0; k <= len(ns); k++ {
				if matchSegs(ps[1:], ns[k:]) {
					return true
				}
			}
			return false
		}
		if len(ns) == 0 {
			return false
		}
		if ok, err := path.Match(ps[0], ns[0]); err != nil || !ok {
			return false
		}
		ps, ns = ps[1:], ns[1:]
	}
	return len(ns) == 0
}
