//go:build browser

package webtest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/cocorico/node/node"
)

// refusal is an answer a refusingNode gives instead of the node's.
type refusal struct {
	status      int
	contentType string
	body        string
	retryAfter  string // the Retry-After header, if set
}

// refusingNode serves a node through a proxy that answers the API paths
// under prefix with a refusal, as a node (or whatever stands at a
// wrongly typed address) may. It allows any origin, as nodes do.
type refusingNode struct {
	URL    string
	mu     sync.Mutex
	prefix string
	answer refusal
}

func newRefusingNode(t *testing.T, target string) *refusingNode {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	n := &refusingNode{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.mu.Lock()
		prefix, a := n.prefix, n.answer
		n.mu.Unlock()
		if prefix == "" || !strings.HasPrefix(r.URL.Path, prefix) {
			proxy.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Content-Type")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.Set("Content-Type", a.contentType)
		if a.retryAfter != "" {
			h.Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		w.Write([]byte(a.body))
	}))
	t.Cleanup(srv.Close)
	n.URL = srv.URL
	return n
}

func (n *refusingNode) refuse(prefix string, a refusal) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.prefix, n.answer = prefix, a
}

func apiError(code, message string) string {
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": code, "message": message}})
	return string(b)
}

// Every refusal the check page can meet is said in the page's language:
// each API error code the node answers a check with (docs/API.md), an
// answer that is not the API's (a proxy's 403, a server that is no node),
// an answer of 200 that is not a receipt check (a web page, other JSON:
// it used to read "undefined could not check…"), an address that is no
// node's, and an unknown code, which gets a
// generic sentence naming the node and the status. The node's English
// message never stands in the sentence; it is kept folded below it.
func TestBrowserCheckPageSaysEveryRefusalOfTheNodeInThePagesLanguage(t *testing.T) {
	info, roll := startDevnet(t, node.DevnetConfig{Validators: 1, Voters: 4})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nodeURL := info.Nodes[0].API
	res := cliVote(t, ctx, info, nodeURL, roll[0], "for")
	receipt, _ := json.Marshal(res.Receipt)
	other := newRefusingNode(t, nodeURL)
	b := newBrowser(t)
	tab := b.ctx
	b.do(tab, "the French check page", chromedp.Navigate(nodeURL+"/check?lang=fr"), chromedp.WaitEnabled(chromedp.CSS("#check-go")),
		setValue("receipt-text", string(receipt)))

	// What the voter reads when she asks another node.
	for _, c := range []struct {
		name   string
		answer refusal
		want   string
	}{
		{"throttled", refusal{429, "application/json", apiError("throttled", "too many requests from 127.0.0.1"), ""}, "reçoit trop de demandes"},
		{"bad_request", refusal{400, "application/json", apiError("bad_request", `bad request: json: unknown field "extra"`), ""}, "n’a pas pu lire ce reçu"},
		{"body_too_large", refusal{413, "application/json", apiError("body_too_large", "request body too large: at most 65536 bytes"), ""}, "trop gros"},
		{"not_found", refusal{404, "application/json", apiError("not_found", "not found: no endpoint POST /v1/receipts/verify"), ""}, "ne répond pas aux vérifications de reçus"},
		{"not a node", refusal{404, "text/plain", "404 page not found", ""}, "ne répond pas aux vérifications de reçus"},
		{"a proxy's 403", refusal{403, "text/html", "<h1>Forbidden by the proxy</h1>", ""}, "refuse les vérifications venant de cette page (erreur 403)"},
		{"an unknown code", refusal{418, "application/json", apiError("teapot", "I am a teapot, not a node"), ""}, "n’a pas pu vérifier cette preuve de vote (erreur 418)"},
		{"a web page that says yes", refusal{200, "text/html", "<h1>Welcome to my site</h1>", ""}, "ne répond pas aux vérifications de reçus"},
		{"JSON that is no check", refusal{200, "application/json", `{"hello":"world"}`, ""}, "ne répond pas aux vérifications de reçus"},
	} {
		other.refuse("/v1/receipts/verify", c.answer)
		b.do(tab, "ask the other node: "+c.name, setValue("node", other.URL),
			void(chromedp.Evaluate[any](`document.getElementById('counted').className = ''`)), chromedp.Click(chromedp.CSS("#check-go")),
			void(chromedp.Poll[bool](`document.getElementById('counted').className.includes('failed')`, chromedp.WithPollingTimeout(30*time.Second))))
		shown := evalString(t, tab, `document.getElementById('counted').innerText`)
		folded := evalString(t, tab, `[...document.querySelectorAll('#counted details code')].map((c) => c.textContent).join('')`)
		if !strings.Contains(shown, c.want) {
			t.Errorf("%s: the page says %q, want %q", c.name, shown, c.want)
		}
		if strings.Contains(shown, "undefined") || !strings.Contains(shown, strings.TrimPrefix(other.URL, "http://")) {
			t.Errorf("%s: the sentence does not name the node %s: %q", c.name, other.URL, shown)
		}
		english := c.answer.body
		if c.answer.status == 200 {
			english = c.answer.body[:min(len(c.answer.body), 10)] // kept folded as what the server said
		} else if strings.HasPrefix(english, "{") {
			var e struct{ Error struct{ Message string } }
			json.Unmarshal([]byte(english), &e)
			english = e.Error.Message
		}
		if strings.Contains(shown, english) || !strings.Contains(folded, english) {
			t.Errorf("%s: the node's words %q are in the sentence, or not kept folded below it:\nshown %q\nfolded %q", c.name, english, shown, folded)
		}
		if c.name == "an unknown code" {
			b.shot(tab, "check-refusal-unknown-fr")
		}
	}

	b.do(tab, "an address that is no node's", setValue("node", "pas une adresse"),
		void(chromedp.Evaluate[any](`document.getElementById('counted').className = ''`)), chromedp.Click(chromedp.CSS("#check-go")),
		void(chromedp.Poll[bool](`document.getElementById('counted').className.includes('failed')`, chromedp.WithPollingTimeout(30*time.Second))))
	if s := evalString(t, tab, `document.getElementById('counted').innerText`); !strings.Contains(s, "«\u00a0pas une adresse\u00a0» n’est pas l’adresse d’un nœud") {
		t.Errorf("a wrong address: %q", s)
	}

	// The page's own node refuses the receipt of the QR code's link, then
	// the chain's genesis.
	other.refuse("/v1/casts/", refusal{429, "application/json", apiError("throttled", "too many requests from 127.0.0.1"), ""})
	b.do(tab, "the QR code's link, refused", chromedp.Navigate(other.URL+"/check?lang=fr&cast="+res.CastID.String()),
		chromedp.WaitVisible(chromedp.CSS("#error #retry")))
	b.shot(tab, "check-cast-refused-fr")
	if s := evalString(t, tab, `document.getElementById('error').innerText`); !strings.Contains(s, "reçoit trop de demandes") ||
		strings.Contains(s, "too many") || !strings.Contains(s, "Réessayer") {
		t.Errorf("the receipt refused: %q", s)
	}
	other.refuse("/v1/genesis", refusal{403, "text/html", "<h1>Forbidden by the proxy</h1>", ""})
	b.do(tab, "the genesis, refused", chromedp.Navigate(other.URL+"/check?lang=en"), chromedp.WaitVisible(chromedp.CSS("#error #retry")))
	if s := evalString(t, tab, `document.getElementById('error').innerText`); !strings.Contains(s, "refuses checks from this page (error 403)") ||
		strings.Contains(s, "Forbidden") {
		t.Errorf("the genesis refused: %q", s)
	}
}
