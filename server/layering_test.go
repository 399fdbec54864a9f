package server_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/factorgate/factorgate"

// The import rules of STYLE §5: the domain core imports no transport,
// storage or generated code; the event store is domain-agnostic; dialects
// never import each other or storage; cmd only wires the server.
func TestLayering(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	transport := []string{"google.golang.org/grpc", "connectrpc.com/", "github.com/grpc-ecosystem/", "net/http"}
	storage := []string{"database/sql", "modernc.org/sqlite", "github.com/jackc/pgx", module + "/server/eventstore/sqlite", module + "/server/eventstore/postgres"}
	dialects := []string{module + "/server/api/zitadel", module + "/server/api/onelogin", module + "/server/api/druid"}
	rules := []struct {
		pkg    string
		banned []string
		direct bool // only the package's own imports, not its module deps
	}{
		{module + "/server/mfa", concat(transport, storage, []string{module + "/gen", module + "/server/api"}), false},
		{module + "/server/eventstore", concat(transport, storage, []string{module + "/gen", module + "/server/mfa", module + "/server/api"}), false},
		{module + "/server/eventstore/sqlite", concat(transport, []string{module + "/gen", module + "/server/mfa", module + "/server/api"}), false},
		{module + "/server/eventstore/postgres", concat(transport, []string{module + "/gen", module + "/server/mfa", module + "/server/api", module + "/server/eventstore/sqlite"}), false},
		{module + "/server/api", concat(storage, dialects, []string{module + "/gen"}), true},
		{module + "/server/api/zitadel", concat(storage, []string{module + "/server/api/onelogin", module + "/server/api/druid", module + "/server/eventstore"}), true},
		{module + "/server/api/onelogin", concat(storage, []string{module + "/server/api/zitadel", module + "/server/api/druid", module + "/server/eventstore", module + "/gen/zitadel"}), true},
		{module + "/server/api/druid", concat(storage, []string{module + "/server/api/zitadel", module + "/server/api/onelogin", module + "/server/eventstore", module + "/gen/zitadel"}), true},
		{module + "/cmd/factorgate", []string{module + "/server/", module + "/gen"}, true},
	}
	for _, r := range rules {
		t.Run(strings.TrimPrefix(r.pkg, module+"/"), func(t *testing.T) {
			// For the package and every package of this module it depends
			// on, check what that package imports itself: third-party
			// libraries (go-webauthn uses net/http, say) are not judged.
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", r.pkg).CombinedOutput()
			if err != nil {
				t.Fatalf("go list %s: %v\n%s", r.pkg, err, out)
			}
			checked := 0
			for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				f := strings.Fields(line)
				if len(f) == 0 || !strings.HasPrefix(f[0], module+"/") {
					continue
				}
				if r.direct && f[0] != r.pkg {
					continue
				}
				checked++
				for _, imp := range f[1:] {
					for _, ban := range r.banned {
						if imp == ban || strings.HasPrefix(imp, strings.TrimSuffix(ban, "/")+"/") {
							t.Errorf("%s imports %s (banned for %s)", f[0], imp, r.pkg)
						}
					}
				}
			}
			if checked == 0 {
				t.Fatalf("go list found no package %s", r.pkg)
			}
		})
	}
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}
