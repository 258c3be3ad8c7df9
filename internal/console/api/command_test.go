package api_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/policyherald/policy-herald/internal/console/consoletest"
	"github.com/policyherald/policy-herald/internal/console/consoletest/run"
)

// TestConsoleCommand runs `policy-herald console` as main runs it, on loopback: it becomes
// ready once its own store synced (no leader election), serves the API with the
// person's view, and stops cleanly when its context ends; with the RoleBinding index too, and
// with the index asked for but not permitted (config/console's ClusterRole alone): then it
// serves all the same, asking about every namespace.
func TestConsoleCommand(t *testing.T) {
	w := cluster(t)
	for _, c := range []struct {
		name  string
		cfg   *rest.Config
		extra string
	}{
		{"admin", w.Cfg, "--rolebinding-index=false"},
		{"admin, index", w.Cfg, "--rolebinding-index"},
		{"console role, index not permitted", consoleRoleConfig(t, w), "--rolebinding-index"},
	} {
		t.Run(c.name, func(t *testing.T) { runConsoleCommand(t, w, c.cfg, c.extra) })
	}
}

// consoleRoleConfig returns w's admin config impersonating a user bound to config/console's
// ClusterRole, which does not read RoleBindings.
func consoleRoleConfig(t *testing.T, w *world) *rest.Config {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "config", "console", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(b, role); err != nil {
		t.Fatal(err)
	}
	role.Name = "console-without-rolebindings"
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: role.Name}}}
	for _, o := range []client.Object{role, binding} {
		if err := w.K8s.Create(context.Background(), o); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	cfg := rest.CopyConfig(w.Cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: role.Name}
	return cfg
}

func runConsoleCommand(t *testing.T, w *world, cfg *rest.Config, extra string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base, stopped, err := run.Console(ctx, cfg, testr.New(t), "--cache-ttl=2s", extra)
	if err != nil {
		t.Fatal(err)
	}
	if err := consoletest.WaitOK(base+"/api/v1/results?namespace=team-a", w.Tokens["alice"]); err != nil {
		t.Fatal(err)
	}

	var page resultsBody
	getJSON(t, base, w.Tokens["alice"], "/api/v1/results", &page)
	if page.Total != w.countIn("team-a") {
		t.Errorf("alice sees %d results through the command, want %d", page.Total, w.countIn("team-a"))
	}
	cancel()
	select {
	case err := <-stopped:
		if err != nil {
			t.Errorf("the console stopped with %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the console did not stop")
	}
}
