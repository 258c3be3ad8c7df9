// Command argocd writes config/argocd/argocd-cm.yaml from config/argocd/health.lua
// (`make argocd-health`); a test in config/argocd fails when the file is stale.
package main

import (
	"flag"
	"log"
	"os"

	"github.com/policyherald/policy-herald/config/argocd"
)

func main() {
	out := flag.String("o", "config/argocd/argocd-cm.yaml", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, argocd.ConfigMap(), 0o644); err != nil {
		log.Fatal(err)
	}
}
