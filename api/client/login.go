package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/cocorico/node/consensus"
)

// LoopbackLogin logs a voter in at the registrar from the command line,
// as `gh auth login` does (RFC 8252 §7.3): it listens on a free port of
// 127.0.0.1, asks the registrar to start a login that comes back there,
// hands the provider's URL to open (the system browser, or a line asking
// the voter to open it), and waits for the registrar's redirect with the
// session in its query. The listener lives only for this call.
func LoopbackLogin(ctx context.Context, r *Registrar, ballot consensus.Hash, open func(url string) error) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("loopback listener: %w", err)
	}
	defer ln.Close()
	type result struct {
		session string
		err     error
	}
	done := make(chan result, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		q := req.URL.Query()
		res := result{session: q.Get("session")}
		if code := q.Get("error"); code != "" || res.session == "" {
			if code == "" {
				code = "login_failed"
			}
			res.err = &Error{Status: http.StatusForbidden, Code: code, Message: q.Get("error_description")}
			fmt.Fprintf(w, "Login refused: %s. You may close this window.\n", q.Get("error_description"))
		} else {
			fmt.Fprintln(w, "Logged in: back to your terminal. You may close this window.")
		}
		select {
		case done <- res:
		default: // a second visit: the first answer stands
		}
	})}
	go srv.Serve(ln)
	// Shutdown, not Close: the browser's answer ("Logged in…") is written
	// after the session is handed over, and Close could cut it off (the
	// browser then shows a broken connection).
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}()
	authURL, err := r.StartLogin(ctx, ballot, "http://"+ln.Addr().String()+"/callback")
	if err != nil {
		return "", err
	}
	if err := open(authURL); err != nil {
		return "", err
	}
	select {
	case res := <-done:
		return res.session, res.err
	case <-ctx.Done():
		return "", errors.Join(errors.New("no login came back"), ctx.Err())
	}
}
