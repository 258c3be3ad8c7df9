package login_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/testing/wait"
)

// TestNamesMatchTheAPIServers: the test cluster's kube-apiserver trusts the same provider with
// its own --oidc-* flags (username claim and prefix at their defaults, the groups claim and
// prefix as the console's). alice's ID token, sent to it, names the user and groups the console
// derived at her login: RoleBindings written for kubectl apply in the console unchanged.
func TestNamesMatchTheAPIServers(t *testing.T) {
	w := cluster(t)
	c := newConsole(t, w, w.op, nil)
	console := decode[consoletest.Access](t, newBrowser(t, w.op).signIn(t, c, w.op, "alice", "/api/v1/access"))
	cfg := rest.AnonymousClientConfig(w.Cfg)
	cfg.BearerToken = idToken(t, w.op, "alice")
	ssr, err := authenticationv1client.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var info authenticationv1.UserInfo
	// The API server discovers the provider in the background.
	if !wait.Until(30*time.Second, func() bool {
		var r *authenticationv1.SelfSubjectReview
		if r, err = ssr.SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{}); err != nil {
			return false
		}
		info = r.Status.UserInfo
		return true
	}) {
		t.Fatalf("the API server did not authenticate alice's ID token: %v", err)
	}
	if info.Username != console.User.Name {
		t.Errorf("the API server names alice %q, the console %q", info.Username, console.User.Name)
	}
	slices.Sort(info.Groups)
	slices.Sort(console.User.Groups)
	if !slices.Equal(info.Groups, console.User.Groups) {
		t.Errorf("the API server puts alice in %q, the console in %q", info.Groups, console.User.Groups)
	}
}

// idToken signs in at op as name, as a client of its own would, and returns the ID token.
func idToken(t *testing.T, op *provider, name string) string {
	t.Helper()
	codes := make(chan string, 1)
	catcher := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		codes <- r.URL.Query().Get("code")
	}))
	t.Cleanup(catcher.Close)
	op.allowRedirect(catcher.URL + "/callback")
	conf := oauth2.Config{ClientID: clientID, ClientSecret: clientSecret, RedirectURL: catcher.URL + "/callback",
		Endpoint: oauth2.Endpoint{AuthURL: op.issuer + "/auth", TokenURL: op.issuer + "/oauth/token"},
		Scopes:   []string{"openid", "profile", "email", "groups"}}
	verifier := oauth2.GenerateVerifier()
	b := newBrowser(t, op)
	resp, err := b.Get(conf.AuthCodeURL("state", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	read(t, resp)
	id := resp.Request.URL.Query().Get("authRequestID")
	resp, err = b.PostForm(op.issuer+"/login/username", url.Values{"id": {id}, "username": {name}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	read(t, resp)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, tlsClientTrusting(op.srv))
	tok, err := conf.Exchange(ctx, <-codes, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the provider sent no ID token")
	}
	return raw
}
