//go:build js && wasm

package main

import (
	"fmt"
	"strings"
	"syscall/js"

	"rsc.io/qr"
)

// qrSVG(text) → {svg}: the QR code of text (error correction level M) as
// an SVG image, one path of unit squares with a four-module quiet zone.
// It is made here, in the voter's browser, so that the printable proof
// works offline and no server learns which cast a voter prints.
func (c *client) qrSVG(args []js.Value) (any, error) {
	text, err := strArg(args, 0)
	if err != nil {
		return nil, err
	}
	code, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, err
	}
	const quiet = 4
	n := code.Size + 2*quiet
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="`, n, n)
	for y := range code.Size {
		for x := 0; x < code.Size; {
			if !code.Black(x, y) {
				x++
				continue
			}
			run := 1
			for x+run < code.Size && code.Black(x+run, y) {
				run++
			}
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", x+quiet, y+quiet, run, run)
			x += run
		}
	}
	b.WriteString(`"/></svg>`)
	return map[string]string{"svg": b.String()}, nil
}
