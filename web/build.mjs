// Builds web/dist from web/src: the example page (bundled with esbuild) and
// the OpenAPI viewer (swagger-ui-dist's files with our own start page).
// `make generate` runs it; the output is committed and embedded in the
// server binary (package web), so building the server needs no Node.js.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
rmSync(dist, { recursive: true, force: true });

// The example page.
await build({
  entryPoints: [join(here, "src/ui/app.ts")],
  outfile: join(dist, "ui/app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  legalComments: "linked",
  logLevel: "warning",
});
for (const f of ["index.html", "style.css"]) {
  cpSync(join(here, "src/ui", f), join(dist, "ui", f));
}

// The OpenAPI viewer: swagger-ui-dist as published, plus our start page.
const swagger = join(here, "node_modules/swagger-ui-dist");
mkdirSync(join(dist, "openapi-ui"), { recursive: true });
for (const f of ["swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "LICENSE", "NOTICE"]) {
  cpSync(join(swagger, f), join(dist, "openapi-ui", f));
}
for (const f of ["index.html", "start.js"]) {
  cpSync(join(here, "src/openapi-ui", f), join(dist, "openapi-ui", f));
}
