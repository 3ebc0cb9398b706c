// /api/docs: Swagger UI on /openapi.json (townsquare/http/api_docs.py). Requests go to this
// origin with the session cookie; unsafe methods carry the session's CSRF token, as the
// dashboard's own API calls do. No request leaves this origin (no validator badge).
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var root = document.getElementById("swagger-ui");
  if (!root || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  var csrf = root.getAttribute("data-csrf-token") || "";
  var safe = { GET: true, HEAD: true, OPTIONS: true };
  window.ui = window.SwaggerUIBundle({
    url: root.getAttribute("data-spec-url"),
    domNode: root,
    deepLinking: false,
    validatorUrl: null,
    tryItOutEnabled: false,
    withCredentials: true,
    persistAuthorization: false,
    requestInterceptor: function (request) {
      var method = (request.method || "GET").toUpperCase();
      var sameOrigin = new URL(request.url, window.location.href).origin === window.location.origin;
      if (csrf && sameOrigin && !safe[method]) {
        request.headers["X-CSRF-Token"] = csrf;
      }
      return request;
    },
  });
});
