//go:build linux

// Package examples_test runs every program under docs/examples and checks
// that it prints what its documentation says it prints, so the examples
// cannot rot.
package examples_test

import (
	"context"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// placeholders in documented output, and what they match.
var placeholders = strings.NewReplacer(
	regexp.QuoteMeta("<pid>"), `[0-9]+`,
	regexp.QuoteMeta("<int>"), `-?[0-9]+`,
	regexp.QuoteMeta("<num>"), `-?[0-9][0-9.,eE+-]*`,
	regexp.QuoteMeta("<any>"), `.*`,
)

// documentedOutput returns the lines of the indented block that follows
// "Output:" (or "Unordered output:", when the lines may come in any order)
// in the package comment of dir/main.go, and whether they are unordered.
func documentedOutput(t *testing.T, dir string) ([]string, bool) {
	f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, "main.go"), nil, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	if f.Doc == nil {
		t.Fatalf("%s/main.go has no package comment", dir)
	}
	text := f.Doc.Text()
	unordered := strings.Contains(text, "Unordered output:\n")
	i := strings.Index(text, "utput:\n")
	if i < 0 {
		t.Fatalf("%s/main.go: the package comment documents no Output:", dir)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimLeft(text[i+len("utput:\n"):], "\n"), "\n") {
		if !strings.HasPrefix(l, "\t") {
			break
		}
		lines = append(lines, strings.TrimPrefix(l, "\t"))
	}
	return lines, unordered
}

func TestExamples(t *testing.T) {
	dirs, err := filepath.Glob("*/main.go")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	bin := t.TempDir()
	var pkgs []string
	for _, d := range dirs {
		pkgs = append(pkgs, "./"+filepath.Dir(d))
	}
	build := exec.Command(goTool, append([]string{"build", "-o", bin + "/"}, pkgs...)...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, d := range dirs {
		name := filepath.Dir(d)
		t.Run(name, func(t *testing.T) {
			want, unordered := documentedOutput(t, name)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, filepath.Join(bin, name))
			cmd.Stderr = os.Stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%s: %v\n%s", name, err, out)
			}
			got := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
			if len(got) != len(want) {
				t.Fatalf("%s printed %d lines, its documentation shows %d:\n--- got\n%s\n--- documented\n%s",
					name, len(got), len(want), strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if !unordered {
				for i := range want {
					re := regexp.MustCompile("^" + placeholders.Replace(regexp.QuoteMeta(want[i])) + "$")
					if !re.MatchString(got[i]) {
						t.Errorf("%s line %d:\n got  %q\n want %q", name, i+1, got[i], want[i])
					}
				}
				return
			}
			// Unordered: every documented line matches a distinct printed line.
			used := make([]bool, len(got))
		next:
			for _, w := range want {
				re := regexp.MustCompile("^" + placeholders.Replace(regexp.QuoteMeta(w)) + "$")
				for j, g := range got {
					if !used[j] && re.MatchString(g) {
						used[j] = true
						continue next
					}
				}
				t.Errorf("%s: no printed line matches %q\nprinted:\n%s", name, w, strings.Join(got, "\n"))
			}
		})
	}
}
