package server_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/factorgate/factorgate/server"
)

// The dedicated native gRPC listener (Config.GRPCAddr) serves the same
// services through the same chain as the one port: the every-transport
// tables, unchanged, run over it and give the same answers.
func TestNativeGRPCListenerPassesTheEveryTransportTables(t *testing.T) {
	saved := transports
	transports = []transport{nativeGRPC}
	t.Cleanup(func() { transports = saved })
	for _, tt := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"removal", TestRemoveFactorEveryTransport},
		{"racing removals", TestRacingRemovalsOneWins},
		{"lifecycle", TestFactorLifecycle},
	} {
		t.Run(tt.name, tt.run)
	}
}

// Calls on the native listener are counted and logged as "grpc": a client
// cannot relabel them with the server's transport header.
func TestNativeGRPCListenerCountsAsGRPCAndIgnoresSpoofedTransport(t *testing.T) {
	e := mustRunServer(t)
	o := mgmtGetDefaultLoginPolicy()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	md := metadata.Pairs("authorization", "Bearer "+e.admin, "x-factorgate-transport", "rest")
	for range 2 {
		if err := e.native.Invoke(metadata.NewOutgoingContext(ctx, md), o.method, o.req, o.newResp()); err != nil {
			t.Fatalf("native grpc: %v", err)
		}
	}
	got := e.rpcCounts(t, o.method)
	want := map[[2]string]float64{{"grpc", "OK"}: 2}
	if !mapsEqual(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
}

// Without Config.GRPCAddr there is no second listener; with it, the
// listener speaks only gRPC (grpc.health.v1 answers SERVING), and plain
// HTTP gets no REST answer there.
func TestNativeGRPCListenerIsOptionalAndGRPCOnly(t *testing.T) {
	off := mustRunServer(t, func(c *server.Config) { c.GRPCAddr = "" })
	if a := off.srv.GRPCAddr(); a != "" {
		t.Fatalf("GRPCAddr %q without Config.GRPCAddr, want none", a)
	}
	if off.native != nil {
		t.Fatal("harness dialed a native listener that does not exist")
	}

	e := mustRunServer(t)
	conn, err := grpc.NewClient(e.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health on the native listener: %v %v, want SERVING", res.GetStatus(), err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+e.srv.GRPCAddr()+"/healthz", nil)
	if r, err := http.DefaultClient.Do(req); err == nil {
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Fatal("the native gRPC listener answered a plain HTTP/1.1 request with 200")
		}
	}
}
