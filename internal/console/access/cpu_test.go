package access_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// apiServerCPU returns the CPU time the test's kube-apiserver has used (Linux: from /proc),
// false where it cannot be read. The benchmark reports it because the wall time of a cold Scope
// is the API server's CPU per review divided by the cores it gets, which on a shared machine
// says more than the wall time alone.
func apiServerCPU() (time.Duration, bool) {
	u, err := url.Parse(apiServer.cfg.Host)
	if err != nil {
		return 0, false
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	for _, p := range procs {
		cmd, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		if !strings.Contains(string(cmd), "kube-apiserver") || !strings.Contains(string(cmd), "--secure-port="+u.Port()) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join(p, "stat"))
		if err != nil {
			return 0, false
		}
		// Fields after "(comm) ": state is the first, utime and stime the 12th and 13th.
		f := strings.Fields(string(stat)[strings.LastIndexByte(string(stat), ')')+2:])
		utime, err1 := strconv.ParseInt(f[11], 10, 64)
		stime, err2 := strconv.ParseInt(f[12], 10, 64)
		if err1 != nil || err2 != nil {
			return 0, false
		}
		return time.Duration(utime+stime) * time.Second / 100, true // USER_HZ is 100 on Linux
	}
	return 0, false
}
