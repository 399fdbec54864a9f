// Package web holds factorgate's browser assets, built from web/src by
// `make generate` (node build.mjs) and committed: the example page served at
// /ui/ and the OpenAPI viewer served at /openapi/ui/. The TypeScript client
// they use is generated from the protos into web/gen.
package web

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// UI is the example page: a signed-in person lists, enrolls and removes
// their second factors over gRPC-Web.
func UI() fs.FS { return sub("dist/ui") }

// OpenAPIUI is Swagger UI over the served OpenAPI documents.
func OpenAPIUI() fs.FS { return sub("dist/openapi-ui") }

func sub(dir string) fs.FS {
	f, err := fs.Sub(dist, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return f
}
