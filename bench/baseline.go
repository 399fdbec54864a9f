package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"

	"connectrpc.com/vanguard"
	"google.golang.org/grpc"

	mgmt "github.com/factorgate/factorgate/gen/zitadel/management"
	userv2 "github.com/factorgate/factorgate/gen/zitadel/user/v2"
	"github.com/factorgate/factorgate/server"
)

// The no-op baseline: the same serving as factorgate (HTTP/1.1 and h2c on
// one http.Server, split by content type: gRPC through
// grpc.Server.ServeHTTP, gRPC-Web through a vanguard transcoder, the rest
// through a net/http handler; and a second port with native gRPC on
// grpc-go's own transport, as factorgate's --grpc-addr), with handlers that
// do nothing. It runs in a process of its own, so its CPU time is its own.

type noopUsers struct {
	userv2.UnimplementedUserServiceServer
}

func (noopUsers) RemoveTOTP(context.Context, *userv2.RemoveTOTPRequest) (*userv2.RemoveTOTPResponse, error) {
	return &userv2.RemoveTOTPResponse{}, nil
}

func (noopUsers) ListAuthenticationFactors(context.Context, *userv2.ListAuthenticationFactorsRequest) (*userv2.ListAuthenticationFactorsResponse, error) {
	return &userv2.ListAuthenticationFactorsResponse{}, nil
}

type noopManagement struct {
	mgmt.UnimplementedManagementServiceServer
}

func (noopManagement) RemoveHumanAuthFactorU2F(context.Context, *mgmt.RemoveHumanAuthFactorU2FRequest) (*mgmt.RemoveHumanAuthFactorU2FResponse, error) {
	return &mgmt.RemoveHumanAuthFactorU2FResponse{}, nil
}

// runBaseline serves until stdin closes (the bench process ends), printing
// "addr=<host:port>" first.
func runBaseline() error {
	server.TuneGC() // the same collector setting as factorgate serve
	g := grpc.NewServer(server.GRPCServerOptions()...)
	userv2.RegisterUserServiceServer(g, noopUsers{})
	mgmt.RegisterManagementServiceServer(g, noopManagement{})
	web := map[string]http.Handler{}
	for name := range g.GetServiceInfo() {
		t, err := vanguard.NewTranscoder([]*vanguard.Service{vanguard.NewService(name, g)},
			vanguard.WithDefaultServiceOptions(vanguard.WithTargetCodecs(vanguard.CodecProto), vanguard.WithTargetProtocols(vanguard.ProtocolGRPC)))
		if err != nil {
			return err
		}
		web[name] = t
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ct := r.Header.Get("Content-Type")
		svc, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
		switch {
		case strings.HasPrefix(ct, "application/grpc") && !strings.HasPrefix(ct, "application/grpc-web") && r.ProtoMajor == 2:
			g.ServeHTTP(w, r)
		case strings.HasPrefix(ct, "application/grpc-web") && web[svc] != nil:
			web[svc].ServeHTTP(w, r)
		default:
			_, _ = io.Copy(io.Discard, r.Body)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
		}
	})
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: &protocols, ReadHeaderTimeout: 10e9, IdleTimeout: 120e9, MaxHeaderBytes: 64 << 10}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The native gRPC port, as factorgate's --grpc-addr: the same
	// grpc.Server on grpc-go's own transport, default settings on both.
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = g.Serve(gln) }()
	fmt.Printf("addr=%s grpc_addr=%s\n", ln.Addr(), gln.Addr())
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		g.Stop()
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
