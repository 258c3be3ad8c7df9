// Package emailjob is the `policy-herald email-report` subcommand that the CronJob of an
// EmailReportSchedule runs: it reads the schedule, its SMTP or Microsoft Graph settings and the
// policy reports it covers, renders the report and mails it (or, with --dry-run, writes it to
// files).
//
// Contract with the controller that builds the CronJob (MutateCronJob and SendNowJob, in this
// package, build it and its one-off Jobs, so both sides of the contract are here):
//
//	policy-herald email-report --schedule=NAMESPACE/NAME --platform-namespace=NS
//	    [--console-url=URL] [--dry-run [--output=PATH]] [--termination-log=PATH]
//
// The platform namespace (default $POD_NAMESPACE) is required: it decides whether the schedule
// reports every namespace or only its own, and outside a Pod nothing tells it.
// --console-url is the operator's own flag, passed on when set: the report links to the
// console's pages.
//
// Exit code 0 on success (including a suspended schedule, which sends nothing), 1 on any
// failure. One line of outcome, at most 1024 bytes, without secrets, is written to stderr and,
// when --termination-log names a file (the Jobs pass their container's terminationMessagePath;
// by default none is written), to that file; a file that cannot be written is ignored:
// "sent <type> report of N results to M recipients", "suspended: nothing sent", or the reason of
// the failure.
package emailjob

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/policyherald/policy-herald/internal/consolelink"
	"github.com/policyherald/policy-herald/internal/email"
	"github.com/policyherald/policy-herald/internal/redact"
	"github.com/policyherald/policy-herald/internal/textcut"
)

// maxOutcome is the most runes of the outcome line: the controller shows it in a status field
// of 1024, and 1024 runes are at most the 4096 bytes Kubernetes keeps of a termination message.
const maxOutcome = 1024

// Env is what a run depends on; tests inject it.
type Env struct {
	// Config reaches the API server; nil means ctrl.GetConfig (in-cluster or KUBECONFIG).
	Config *rest.Config
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (POD_NAMESPACE); nil means os.Getenv.
	Getenv func(string) string
	// Now is the time of the report; nil means time.Now.
	Now func() time.Time
	// Graph points Microsoft Graph and its token service at a test server; nil (always, outside
	// tests) means Microsoft's.
	Graph *email.GraphEndpoints
}

// Main runs the subcommand with args (the arguments after "email-report") and returns the exit
// code.
func Main(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, Env{Stdout: os.Stdout, Stderr: os.Stderr}, args)
}

// flags are the parsed command line.
type flags struct {
	namespace, name   string
	platformNamespace string
	consoleURL        consolelink.Base
	dryRun            bool
	output            string
	terminationLog    string
}

func parseFlags(args []string, env Env) (*flags, error) {
	fs := flag.NewFlagSet("email-report", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	var f flags
	schedule := fs.String("schedule", "", "the EmailReportSchedule to send, as NAMESPACE/NAME (required)")
	fs.StringVar(&f.platformNamespace, "platform-namespace", env.Getenv("POD_NAMESPACE"),
		"the platform namespace: a schedule there covers every namespace and the cluster reports; any other covers only its own namespace (default $POD_NAMESPACE)")
	consoleURL := fs.String("console-url", "", "the console's external address: the report links to its pages of namespaces, resources and policies (the operator's --console-url)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "render the e-mail without sending it")
	fs.StringVar(&f.output, "output", "", "with --dry-run: write the message to PATH (.eml), PATH.html and PATH.txt; without, the text part goes to stdout")
	fs.StringVar(&f.terminationLog, "termination-log", "",
		"file to write the outcome line to, as a container's terminationMessagePath (the Jobs pass /dev/termination-log); empty writes none")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return &f, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	ns, name, ok := strings.Cut(*schedule, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		return &f, fmt.Errorf("--schedule=NAMESPACE/NAME is required (got %q)", *schedule)
	}
	f.namespace, f.name = ns, name
	base, err := consolelink.Parse(*consoleURL)
	if err != nil {
		return &f, fmt.Errorf("--console-url: %w", err)
	}
	f.consoleURL = base
	if f.output != "" && !f.dryRun {
		return &f, errors.New("--output needs --dry-run")
	}
	if f.platformNamespace == "" {
		return &f, fmt.Errorf("--platform-namespace (or $POD_NAMESPACE) is not set: pass the namespace the operator runs in "+
			"(policy-herald-system when installed from config/default); it decides whether %s reports every namespace and the "+
			"cluster reports (a schedule in that namespace) or only its own namespace", *schedule)
	}
	return &f, nil
}

// Run runs the subcommand and returns its exit code.
func Run(ctx context.Context, env Env, args []string) int {
	if env.Stdout == nil {
		env.Stdout = io.Discard
	}
	if env.Stderr == nil {
		env.Stderr = io.Discard
	}
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if env.Now == nil {
		env.Now = time.Now
	}
	f, err := parseFlags(args, env)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	terminationLog := ""
	if f != nil {
		terminationLog = f.terminationLog
	}
	if err != nil {
		return finish(env, terminationLog, "", err)
	}
	cfg := env.Config
	if cfg == nil {
		if cfg, err = ctrl.GetConfig(); err != nil {
			return finish(env, terminationLog, "", fmt.Errorf("no Kubernetes configuration (in-cluster or KUBECONFIG): %w", err))
		}
	}
	j := &job{env: env, flags: f, cfg: cfg}
	outcome, err := j.run(ctx)
	return finish(env, terminationLog, j.secret, errOr(outcome, err))
}

// errOr returns err, or the outcome as a success.
func errOr(outcome string, err error) error {
	if err != nil {
		return err
	}
	return success(outcome)
}

type success string

func (s success) Error() string { return string(s) }

// finish writes the outcome line and returns the exit code.
func finish(env Env, terminationLog, password string, result error) int {
	var s success
	ok := errors.As(result, &s)
	line := Outcome(result.Error(), password)
	fmt.Fprintln(env.Stderr, line)
	if terminationLog != "" {
		_ = os.WriteFile(terminationLog, []byte(line), 0o644) //nolint:gosec // read by the kubelet
	}
	if ok {
		return 0
	}
	return 1
}

// Outcome makes msg one line of at most maxOutcome runes, with password (if any) removed in
// every form a server may echo it in (see redact).
func Outcome(msg, password string) string {
	if password != "" {
		msg = redact.New(nil, password).Redact(msg)
	}
	return textcut.Cut(strings.Join(strings.Fields(msg), " "), maxOutcome)
}
