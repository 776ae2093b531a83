// Starts Swagger UI on /docs. A file of its own, not an inline script, so that the page keeps a
// Content-Security-Policy without 'unsafe-inline' scripts. The OpenAPI URL comes from the
// script element's data-openapi attribute (it carries the server's root path).
(function () {
  "use strict";
  var openapi = document.currentScript.dataset.openapi;
  window.ui = SwaggerUIBundle({
    url: openapi,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    // The public validator would be asked about the spec: nothing leaves for another host.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
