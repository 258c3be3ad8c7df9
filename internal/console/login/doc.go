// Package login says who a person using the console is (issue 19), behind the one contract
// every console handler uses, api.Authenticator. It adds to the API's bearer tokens:
//
//   - OIDC login: the authorization code flow with PKCE (S256) against the cluster's identity
//     provider (go-oidc and x/oauth2), the user and groups derived from the ID token exactly as
//     kube-apiserver's --oidc-* flags derive them (Mapping), so the cluster's RoleBindings apply;
//   - token login: a Kubernetes token pasted into a form, reviewed once with a TokenReview, for
//     clusters without OIDC;
//   - sessions: both logins end in a stateless cookie, sealed with AES-256-GCM under a key every
//     replica shares, holding the user, groups and expiry, never a token;
//   - a trusted authenticating proxy (oauth2-proxy style headers), believed only with its
//     shared secret or its client certificate (Proxy);
//   - a development identity, the kubeconfig's own user, only on loopback (Dev).
//
// Chain puts them in order: session cookie, bearer token, proxy, dev user; the first to name a
// user wins. Routes (Login.Mount puts them on a mux): GET /login (the sign-in page, or straight
// to the provider when OIDC is the only way; `next` is where to go after, local paths only), GET
// /login/oidc (starts the OIDC flow), GET /login/callback, POST /login/token and POST /logout,
// the two POSTs refused cross-origin (http.CrossOriginProtection).
//
// Pages: when Authenticate says ErrUnauthenticated, a page handler redirects to
// Login.LoginURL(r.URL.RequestURI()) if Login.Available() (some way to sign in in a browser is
// on); the API answers 401 as it always has.
package login
