package login

import (
	"html/template"
	"net/http"
)

// page is what the sign-in page shows: the ways to sign in that are on, and what went wrong.
type page struct {
	Next  string
	Error string
	OIDC  bool
	Token bool
}

// pageCSP allows nothing but the page's own forms and the console's stylesheet: no script at
// all.
const pageCSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// The page wears the pages' stylesheet (package ui serves /static/app.css, revalidated each
// time without its version), so signing in looks like the console it opens.
var pageTemplate = template.Must(template.New("login").Parse(`<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Policy Herald</title>
<link rel="stylesheet" href="/static/app.css">
</head>
<body>
<header class="top"><nav aria-label="Console"><span class="brand">Policy Herald</span></nav></header>
<main id="main">
<section class="signin" aria-labelledby="signin-title">
<h1 id="signin-title">Sign in</h1>
<p class="lead">The console shows the policy results Kubernetes RBAC lets you see.</p>
{{if .Error}}<p class="banner error" role="alert">{{.Error}}</p>{{end}}
{{if .OIDC}}<p><a class="button" href="/login/oidc?next={{.Next}}">Sign in with OIDC</a></p>{{end}}
{{if .Token}}<form method="post" action="/login/token">
<input type="hidden" name="next" value="{{.Next}}">
<div class="field"><label for="token">Kubernetes token</label>
<input id="token" name="token" type="password" autocomplete="off" required aria-describedby="token-hint"></div>
<p class="hint" id="token-hint">For example the output of <code>kubectl create token</code>. The console keeps who the API server says you are, never the token.</p>
<button type="submit">Sign in with a token</button>
</form>{{end}}
{{if not (or .OIDC .Token)}}<p>No way to sign in in a browser is configured: send a Kubernetes token as Authorization: Bearer.</p>{{end}}
</section>
</main>
</body>
</html>
`))

// page writes the sign-in page with status.
func (l *Login) page(w http.ResponseWriter, status int, p page) {
	if p.Next == "" {
		p.Next = "/"
	}
	p.OIDC, p.Token = l.oidc != nil, l.opts.Tokens != nil
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, p)
}
