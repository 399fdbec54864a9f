// Starts Swagger UI over every OpenAPI document the server serves: the list
// comes from /openapi/index.json, so new services appear without a change
// here. ?doc=<name> opens one document first.
(async function () {
  const resp = await fetch("../index.json");
  const docs = await resp.json();
  const wanted = new URLSearchParams(location.search).get("doc");
  window.ui = SwaggerUIBundle({
    urls: docs.map((d) => ({ url: d.url, name: d.name })),
    "urls.primaryName": wanted || (docs[0] && docs[0].name),
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
    plugins: [SwaggerUIBundle.plugins.DownloadUrl],
    layout: "StandaloneLayout",
  });
})();
