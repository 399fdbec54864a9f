package server_test

import (
	"context"
	"strings"
	"testing"

	"github.com/factorgate/factorgate/server"
)

// A SQLite synchronous setting other than FULL or NORMAL (in any case) is
// refused before anything starts, rather than run as the default.
func TestSQLiteSynchronousIsFullOrNormal(t *testing.T) {
	for _, v := range []string{"OFF", "extra", "0"} {
		cfg := testConfig(t)
		cfg.SQLiteSynchronous = v
		srv, err := server.New(context.Background(), cfg)
		if err == nil {
			_ = srv.Close()
			t.Fatalf("SQLiteSynchronous %q: started, want an error", v)
		}
		if !strings.Contains(err.Error(), "want FULL or NORMAL") {
			t.Fatalf("SQLiteSynchronous %q: %v", v, err)
		}
	}
	cfg := testConfig(t)
	cfg.SQLiteSynchronous = "normal"
	srv, err := server.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("normal: %v", err)
	}
	_ = srv.Close()
}
