//go:build js && wasm

package main

import (
	"encoding/json"
	"fmt"
	"syscall/js"
)

// Every function takes and returns strings (JSON or base64, as the API
// does), so the layer between Go and JavaScript stays one conversion.
// An error comes back as {"error": "..."}.
type function func(args []js.Value) (any, error)

func main() {
	c := newClient()
	api := map[string]function{
		"genesisHash":   c.genesisHash,
		"tokenRequest":  c.tokenRequest,
		"finalizeToken": c.finalizeToken,
		"signCast":      c.signCast,
		"verifyReceipt": c.verifyReceipt,
		"verifyResults": c.verifyResults,
		"qrSVG":         c.qrSVG,
		"codeHash":      c.codeHash,
	}
	obj := js.Global().Get("Object").New()
	for name, f := range api {
		obj.Set(name, js.FuncOf(wrap(f)))
	}
	js.Global().Set("cocorico", obj)
	if ready := js.Global().Get("cocoricoReady"); ready.Type() == js.TypeFunction {
		ready.Invoke()
	}
	select {} // the functions live as long as the page
}

func wrap(f function) func(js.Value, []js.Value) any {
	return func(_ js.Value, args []js.Value) any {
		out, err := f(args)
		if err != nil {
			out = map[string]string{"error": err.Error()}
		}
		data, err := json.Marshal(out)
		if err != nil {
			data, _ = json.Marshal(map[string]string{"error": err.Error()})
		}
		return string(data)
	}
}

// strArg returns args[i] as a string.
func strArg(args []js.Value, i int) (string, error) {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return "", fmt.Errorf("argument %d: want a string", i+1)
	}
	return args[i].String(), nil
}

func intArg(args []js.Value, i int) (int, error) {
	if i >= len(args) || args[i].Type() != js.TypeNumber {
		return 0, fmt.Errorf("argument %d: want a number", i+1)
	}
	return args[i].Int(), nil
}
