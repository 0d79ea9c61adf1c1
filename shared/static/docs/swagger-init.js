// Starts Swagger UI on a service's /docs page. A file rather than an inline script: the page's
// Content-Security-Policy runs scripts from the service itself only. validatorUrl null: Swagger UI
// would otherwise send the document to an online validator for its badge.
(function () {
  "use strict";
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.getAttribute("data-openapi-url"),
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
})();
