package api

import (
	"context"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// InProcess is a gRPC client connection to services in this process: the
// REST gateways call through it. A call runs the service's handler behind
// the same unary interceptor chain as a call over the network (recover,
// log, metrics, authenticate, authorize, validate, error mapping), with
// the caller's metadata as incoming metadata and the headers and trailers
// the handler sets returned to the caller, but without encoding the
// messages and framing them as HTTP/2 on an in-memory connection and back.
// Messages are copied on the way in and out, as the network would.
//
// Register the services with RegisterService (it is a
// grpc.ServiceRegistrar) before the first call.
type InProcess struct {
	unary   grpc.UnaryServerInterceptor
	methods map[string]inprocMethod
}

type inprocMethod struct {
	impl    any
	handler grpc.MethodHandler
}

// NewInProcess returns a connection whose calls run behind unary.
func NewInProcess(unary grpc.UnaryServerInterceptor) *InProcess {
	return &InProcess{unary: unary, methods: map[string]inprocMethod{}}
}

var (
	_ grpc.ServiceRegistrar    = (*InProcess)(nil)
	_ grpc.ClientConnInterface = (*InProcess)(nil)
)

// RegisterService implements grpc.ServiceRegistrar (unary methods only;
// the gateways make no streaming calls).
func (c *InProcess) RegisterService(desc *grpc.ServiceDesc, impl any) {
	for _, m := range desc.Methods {
		c.methods["/"+desc.ServiceName+"/"+m.MethodName] = inprocMethod{impl: impl, handler: m.Handler}
	}
}

// Invoke implements grpc.ClientConnInterface.
func (c *InProcess) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	m, ok := c.methods[method]
	if !ok {
		return status.Errorf(codes.Unimplemented, "unknown method %s", method)
	}
	in, ok1 := args.(proto.Message)
	out, ok2 := reply.(proto.Message)
	if !ok1 || !ok2 {
		return status.Error(codes.Internal, "in-process call: messages must be protobuf messages")
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	incoming := make(metadata.MD, len(md))
	for k, v := range md {
		incoming[strings.ToLower(k)] = v
	}
	st := &inprocStream{method: method}
	sctx := metadata.NewIncomingContext(metadata.NewOutgoingContext(ctx, nil), incoming)
	sctx = grpc.NewContextWithServerTransportStream(sctx, st)
	dec := func(v any) error {
		dst, ok := v.(proto.Message)
		if !ok {
			return status.Error(codes.Internal, "in-process call: request must be a protobuf message")
		}
		proto.Merge(dst, in)
		return nil
	}
	resp, err := m.handler(m.impl, sctx, dec, c.unary)
	st.deliver(opts)
	if err != nil {
		if _, isStatus := status.FromError(err); !isStatus {
			return status.Error(codes.Unknown, err.Error()) // what a network client would see
		}
		return err
	}
	if r, ok := resp.(proto.Message); ok && r != nil {
		proto.Merge(out, r)
	}
	return nil
}

// NewStream implements grpc.ClientConnInterface: streaming is not served
// in process.
func (c *InProcess) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, status.Error(codes.Unimplemented, "streaming is not supported in process")
}

// inprocStream collects the headers and trailers a handler sets
// (grpc.SetHeader, grpc.SetTrailer) for the caller's grpc.Header and
// grpc.Trailer call options.
type inprocStream struct {
	method  string
	mu      sync.Mutex
	header  metadata.MD
	trailer metadata.MD
}

func (s *inprocStream) Method() string { return s.method }

func (s *inprocStream) SetHeader(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header = metadata.Join(s.header, md)
	return nil
}

func (s *inprocStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }

func (s *inprocStream) SetTrailer(md metadata.MD) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trailer = metadata.Join(s.trailer, md)
	return nil
}

func (s *inprocStream) deliver(opts []grpc.CallOption) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range opts {
		switch o := o.(type) {
		case grpc.HeaderCallOption:
			*o.HeaderAddr = s.header.Copy()
		case grpc.TrailerCallOption:
			*o.TrailerAddr = s.trailer.Copy()
		}
	}
}
