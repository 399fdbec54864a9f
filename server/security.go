package server

import "google.golang.org/grpc"

// GRPCServiceInfo lists the served gRPC services and their methods (the
// authorization matrix test checks that each has a row).
func (s *Server) GRPCServiceInfo() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }
