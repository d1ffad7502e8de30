package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestLinks checks that every relative link in README.md and docs/*.md
// resolves to a file or directory of the repository.
func TestLinks(t *testing.T) {
	files, _ := filepath.Glob("*.md")
	files = append(files, "../README.md")
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	code := regexp.MustCompile("`[^`]*`") // inline code is not markdown
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := code.ReplaceAllString(string(b), "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path := filepath.Join(filepath.Dir(f), target)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: link %q does not resolve (%v)", f, target, err)
			}
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no links found: the pattern is broken")
	}
}

// TestReadmeExample checks that the Go program in README.md is
// docs/examples/quickstart, which the examples test runs: the README's
// example cannot rot.
func TestReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```go\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("README.md has no Go example")
	}
	prog, err := os.ReadFile("examples/quickstart/main.go")
	if err != nil {
		t.Fatal(err)
	}
	// The README shows the program without its package comment.
	body := string(prog)
	body = body[strings.Index(body, "package main"):]
	if string(m[1]) != body {
		t.Fatalf("README.md's example differs from docs/examples/quickstart/main.go (from \"package main\" on); copy it over")
	}
}

// TestTestReferences checks that every link of the form [`TestName`](file)
// or [`TestName/subtest`](file) in docs/*.md points at a file that defines
// that test (and names that subtest), so that the Guarantees table cannot
// cite a test that was renamed or removed.
func TestTestReferences(t *testing.T) {
	files, _ := filepath.Glob("*.md")
	ref := regexp.MustCompile("\\[`((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)(?:/([^`]+))?`\\]\\(([^)#\\s]+)\\)")
	checked := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ref.FindAllStringSubmatch(string(b), -1) {
			name, sub, target := m[1], m[2], m[3]
			src, err := os.ReadFile(filepath.Join(filepath.Dir(f), target))
			if err != nil {
				t.Errorf("%s: %s cites %s: %v", f, name, target, err)
				continue
			}
			if !strings.Contains(string(src), "func "+name+"(") {
				t.Errorf("%s: %s does not define %s", f, target, name)
			}
			if sub != "" && !strings.Contains(string(src), `"`+sub+`"`) && !strings.Contains(string(src), `"`+strings.ReplaceAll(sub, "_", " ")+`"`) {
				t.Errorf("%s: %s has no subtest %q of %s", f, target, sub, name)
			}
			checked++
		}
	}
	if checked < 50 {
		t.Fatalf("%d test references found, want the Guarantees table's (at least 50): the pattern is broken", checked)
	}
}
