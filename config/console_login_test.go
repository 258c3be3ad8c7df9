package config_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/policyherald/policy-herald/internal/console/server"
)

// The example login patch applied to config/console: the console reads every secret from the
// optional Secret the Deployment mounts, and its args are a command line the console accepts.
func TestConsoleLoginPatch(t *testing.T) {
	mem := consoleInMemory(t)
	// As the patch says: copied next to a kustomization of one's own.
	patch, err := os.ReadFile(filepath.Join("console", "examples", "login-patch.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := mem.WriteFile("/config/mine/login-patch.yaml", patch); err != nil {
		t.Fatal(err)
	}
	overlay := "resources:\n- ../console\npatches:\n- path: login-patch.yaml\n"
	if err := mem.WriteFile("/config/mine/kustomization.yaml", []byte(overlay)); err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	decode(t, find(t, build(t, mem, "/config/mine"), "Deployment", "console"), &dep)
	pod := dep.Spec.Template.Spec
	if len(pod.Volumes) != 1 || pod.Volumes[0].Secret == nil || pod.Volumes[0].Secret.SecretName != "console-login" ||
		pod.Volumes[0].Secret.Optional == nil || !*pod.Volumes[0].Secret.Optional {
		t.Fatalf("console volumes %+v, want the optional Secret console-login", pod.Volumes)
	}
	c := pod.Containers[0]
	if len(c.VolumeMounts) != 1 || !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].Name != pod.Volumes[0].Name {
		t.Fatalf("console volume mounts %+v, want the Secret read-only", c.VolumeMounts)
	}
	mount := c.VolumeMounts[0].MountPath + "/"
	if c.Args[0] != "console" {
		t.Fatalf("args %v do not run the console", c.Args)
	}
	// The args replace the Deployment's: the patch keeps every one of them.
	var base appsv1.Deployment
	decode(t, find(t, build(t, mem, "/config/console"), "Deployment", "console"), &base)
	for _, a := range base.Spec.Template.Spec.Containers[0].Args {
		if !slices.Contains(c.Args, a) {
			t.Errorf("the patched args %v drop the Deployment's %s", c.Args, a)
		}
	}
	f, err := server.ParseFlags(c.Args[1:], t.Output())
	if err != nil {
		t.Fatalf("the console refuses the patched args %v: %v", c.Args, err)
	}
	id := f.Identity
	for name, path := range map[string]string{"session key": id.SessionKeyFile, "client secret": id.OIDC.ClientSecretFile} {
		if !strings.HasPrefix(path, mount) {
			t.Errorf("the %s is read from %q, not from the Secret mounted at %s", name, path, mount)
		}
	}
	if id.OIDC.IssuerURL == "" || id.OIDC.ClientID == "" || !strings.HasPrefix(id.ExternalURL, "https://") || id.Dev {
		t.Errorf("the patch configures %+v, want OIDC with an https external URL and no dev mode", id)
	}
}
