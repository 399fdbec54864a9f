package server_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc/codes"

	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server/eventstore/postgres/pgtest"
	"github.com/factorgate/factorgate/server/mfa"
)

// rawDB runs SQL on the server's database with a connection of its own,
// as another writer of the database would (another replica, an older
// version, an operator's tool): none of factorgate's code is involved.
// Queries use $1-style parameters.
type rawDB struct {
	t    *testing.T
	pg   *pgx.Conn
	lite *sql.DB
}

func openRawDB(t *testing.T, dataDir string) *rawDB {
	t.Helper()
	ctx := context.Background()
	r := &rawDB{t: t}
	var err error
	if pgtest.Enabled() {
		if r.pg, err = pgx.Connect(ctx, testDB(t, dataDir)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.pg.Close(ctx) })
		return r
	}
	if r.lite, err = sql.Open("sqlite", "file:"+filepath.Join(dataDir, "factorgate.db")+"?_pragma=busy_timeout(5000)"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.lite.Close() })
	return r
}

func (r *rawDB) exec(query string, args ...any) {
	r.t.Helper()
	var err error
	if r.pg != nil {
		_, err = r.pg.Exec(context.Background(), query, args...)
	} else {
		_, err = r.lite.Exec(strings.ReplaceAll(query, "$", "?"), args...)
	}
	if err != nil {
		r.t.Fatalf("%s: %v", query, err)
	}
}

func (r *rawDB) bytes(query string, args ...any) []byte {
	r.t.Helper()
	var out []byte
	var err error
	if r.pg != nil {
		err = r.pg.QueryRow(context.Background(), query, args...).Scan(&out)
	} else {
		err = r.lite.QueryRow(strings.ReplaceAll(query, "$", "?"), args...).Scan(&out)
	}
	if err != nil {
		r.t.Fatalf("%s: %v", query, err)
	}
	return out
}

// A server keeps the tokens, organizations and the instance its requests
// read for as long as the store's generation stays. A change written into
// the database by another writer, with plain SQL, still reaches the very
// next request over every transport: the database's triggers give the
// generation a new value in the writer's own transaction.
func TestAChangeByAnotherWriterOfTheDatabaseReachesTheNextRequest(t *testing.T) {
	cfg := testConfig(t)
	e := mustRunServer(t, withDataDir(cfg.DataDir))
	db := openRawDB(t, cfg.DataDir)
	person := e.newHuman(e.org)
	list := newOp[userv2.ListAuthenticationFactorsRequest, userv2.ListAuthenticationFactorsResponse]("/zitadel.user.v2.UserService/ListAuthenticationFactors",
		&userv2.ListAuthenticationFactorsRequest{UserId: person}, http.MethodPost, "/v2/users/"+person+"/authentication_factors/_search", "")
	noMembership := failure(codes.NotFound, http.StatusNotFound, "membership not found", "AUTHZ-cdgFk")
	invalidToken := failure(codes.Unauthenticated, http.StatusUnauthorized, "Errors.Token.Invalid", "AUTH-7fs1e")

	for _, tr := range append(transports, nativeGRPC) {
		t.Run(tr.name, func(t *testing.T) {
			machine, token := e.machineToken(e.org, "ORG_USER_MANAGER")
			for range 3 { // the first request keeps them, the others use them
				e.mustCall(t, tr, list, token, "", success)
			}

			// The membership, taken out of the organization's document.
			orgDoc := db.bytes(`SELECT data FROM docs WHERE kind = 'org' AND id = $1`, e.org)
			var doc map[string]any
			if err := json.Unmarshal(orgDoc, &doc); err != nil {
				t.Fatal(err)
			}
			delete(doc["members"].(map[string]any), machine)
			changed, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			db.exec(`UPDATE docs SET data = $1 WHERE kind = 'org' AND id = $2`, changed, e.org)
			e.mustCall(t, tr, list, token, "", noMembership)
			e.mustCall(t, tr, list, token, "", noMembership)

			// Put back, it counts again.
			db.exec(`UPDATE docs SET data = $1 WHERE kind = 'org' AND id = $2`, orgDoc, e.org)
			e.mustCall(t, tr, list, token, "", success)
			e.mustCall(t, tr, list, token, "", success)

			// The token, deleted.
			db.exec(`DELETE FROM docs WHERE kind = 'token' AND id = $1`, mfa.HashToken(token))
			e.mustCall(t, tr, list, token, "", invalidToken)
		})
	}
}
