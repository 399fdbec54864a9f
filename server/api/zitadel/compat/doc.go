// Package compat holds the wire-compatibility test of factorgate's
// ZITADEL-compatible protos against the descriptors that ship with the stock
// client github.com/zitadel/zitadel-go/v3.
//
// It is a separate Go module on purpose: zitadel-go registers the same proto
// full names (zitadel.management.v1.ManagementService, zitadel.v1.ObjectDetails,
// ...) as factorgate's generated packages, and the protobuf runtime refuses
// two registrations of one name in a binary. The test therefore never links
// factorgate's gen/ packages; it reads the descriptor set gen/zitadel.binpb
// (written by `make generate`) into a private protoregistry.Files.
//
// Run it with `make compat`.
package compat
