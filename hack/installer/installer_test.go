package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// The committed dist/install.yaml is what `make build-installer` writes from config/default.
func TestInstallYAMLIsCurrent(t *testing.T) {
	want, err := render("../../config/default", defaultImage, all)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../../dist/install.yaml")
	if err != nil {
		t.Fatalf("%v: run make build-installer", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("dist/install.yaml is stale: run make build-installer and commit it")
	}
}

func TestRenderSetsTheImage(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/acme/policy-herald:v1.2.3":        "image: ghcr.io/acme/policy-herald:v1.2.3\n",
		"registry.local:5000/policy-herald":        "image: registry.local:5000/policy-herald:latest\n",
		"registry.local:5000/policy-herald:v1":     "image: registry.local:5000/policy-herald:v1\n",
		"quay.io/x/policy-herald@sha256:" + sha256: "image: quay.io/x/policy-herald@sha256:" + sha256 + "\n",
	} {
		out, err := render("../../config/default", image, all)
		if err != nil {
			t.Fatalf("%s: %v", image, err)
		}
		if n := strings.Count(string(out), "image: "); n != 1 || !strings.Contains(string(out), want) {
			t.Errorf("%s: install.yaml has %d images, want exactly %q", image, n, strings.TrimSpace(want))
		}
	}
	if _, err := render("../../config/default", "", all); err == nil {
		t.Error("an empty image was accepted")
	}
}

const sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func all(string) bool { return true }

// undeploy deletes all but the CRDs, uninstall-crds the CRDs only: together, everything.
func TestRenderSplitsCRDs(t *testing.T) {
	whole, err := render("../../config/default", defaultImage, all)
	if err != nil {
		t.Fatal(err)
	}
	without, err := render("../../config/default", defaultImage, func(k string) bool { return k != crdKind })
	if err != nil {
		t.Fatal(err)
	}
	only, err := render("../../config/default", defaultImage, func(k string) bool { return k == crdKind })
	if err != nil {
		t.Fatal(err)
	}
	count := func(b []byte, kind string) int { return strings.Count(string(b), "\nkind: "+kind+"\n") }
	if n := count(without, crdKind); n != 0 {
		t.Errorf("-without-crds renders %d CRDs", n)
	}
	if n, want := count(only, crdKind), count(whole, crdKind); n != want || want != 5 {
		t.Errorf("-crds-only renders %d CRDs, the install %d, want 5", n, want)
	}
	if count(only, "Deployment") != 0 || count(without, "Deployment") != 1 {
		t.Error("the Deployment is not where it belongs")
	}
	if got, want := strings.Count(string(without), "\n---\n")+strings.Count(string(only), "\n---\n")+1, strings.Count(string(whole), "\n---\n"); got != want {
		t.Errorf("the two parts hold %d objects together, the install %d", got+1, want+1)
	}
}
