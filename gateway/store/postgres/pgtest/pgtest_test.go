package pgtest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestUnreachableServer: with no server, a test that needs PostgreSQL is
// skipped, and fails, naming the DSN, when CI is set. It re-runs this
// test binary against a port nothing listens on.
func TestUnreachableServer(t *testing.T) {
	if os.Getenv("PGTEST_CHILD") != "" {
		Admin(t)
		t.Log("reached")
		return
	}
	const dead = "postgres://postgres@127.0.0.1:9/test?sslmode=disable&connect_timeout=2"
	for _, ci := range []string{"", "true"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestUnreachableServer$", "-test.v")
		cmd.Env = append(os.Environ(), "PGTEST_CHILD=1", "TONGBAN_TEST_POSTGRES_DSN="+dead, "CI="+ci)
		out, err := cmd.CombinedOutput()
		switch {
		case ci == "" && (err != nil || !strings.Contains(string(out), "--- SKIP")):
			t.Errorf("without CI: %v\n%s; want the test skipped", err, out)
		case ci != "" && (err == nil || !strings.Contains(string(out), "cannot be reached and CI is set") || !strings.Contains(string(out), "127.0.0.1:9")):
			t.Errorf("with CI: %v\n%s; want the test failed naming the server", err, out)
		}
	}
}
