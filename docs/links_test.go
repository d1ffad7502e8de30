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
