package web_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

// The embedding guide is read by people who cannot read the script: what
// it documents must be what embed.js does, and its links must land.

// Every data-* attribute the guide's table documents is one embed.js
// reads, and every one it reads is documented.
func TestEmbedScriptReadsExactlyTheAttributesTheGuideDocuments(t *testing.T) {
	guide := readFile(t, "../../docs/EMBED.md")
	script := readFile(t, "assets/embed.js")
	documented := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^\\| `data-([a-z]+)` \\|").FindAllStringSubmatch(guide, -1) {
		documented[m[1]] = true
	}
	read := map[string]bool{}
	for _, m := range regexp.MustCompile(`script\.dataset\.([a-z]+)`).FindAllStringSubmatch(script, -1) {
		read[m[1]] = true
	}
	if len(documented) == 0 || len(read) == 0 {
		t.Fatalf("found %d documented and %d read attributes", len(documented), len(read))
	}
	for a := range read {
		if !documented[a] {
			t.Errorf("embed.js reads data-%s, which docs/EMBED.md's table does not document", a)
		}
	}
	for a := range documented {
		if !read[a] {
			t.Errorf("docs/EMBED.md documents data-%s, which embed.js does not read", a)
		}
	}
}

// Each link from the guide to another document names a file of docs/
// and, after #, one of its headings as GitHub anchors it.
func TestEmbedGuideLinksLandOnRealHeadings(t *testing.T) {
	guide := readFile(t, "../../docs/EMBED.md")
	links := regexp.MustCompile(`\]\(([A-Z]+\.md)(?:#([^)]*))?\)`).FindAllStringSubmatch(guide, -1)
	if len(links) == 0 {
		t.Fatal("docs/EMBED.md links to no other document")
	}
	for _, l := range links {
		doc := readFile(t, filepath.Join("../../docs", l[1]))
		if l[2] == "" {
			continue
		}
		found := false
		for _, h := range regexp.MustCompile(`(?m)^#+ (.+)$`).FindAllStringSubmatch(doc, -1) {
			found = found || anchor(h[1]) == l[2]
		}
		if !found {
			t.Errorf("docs/EMBED.md links to %s#%s: no such heading", l[1], l[2])
		}
	}
}

// anchor is GitHub's id for a heading: lowercase, spaces to hyphens,
// punctuation other than hyphens and underscores dropped.
func anchor(heading string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ':
			return '-'
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			return unicode.ToLower(r)
		}
		return -1
	}, heading)
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
