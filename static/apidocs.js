// The API reference page: Swagger UI on webbin's OpenAPI document, in webbin's theme.
// A file, not an inline script, so the page keeps the strict CSP.
(() => {
  "use strict";
  const root = document.documentElement;
  const systemDark = matchMedia("(prefers-color-scheme: dark)");
  // Swagger UI's dark theme is a class on <html>; webbin's is data-theme or the system's.
  function followTheme() {
    const theme = root.dataset.theme || (systemDark.matches ? "dark" : "light");
    root.classList.toggle("dark-mode", theme === "dark");
  }
  followTheme();
  new MutationObserver(followTheme).observe(root, { attributes: true, attributeFilter: ["data-theme"] });
  systemDark.addEventListener("change", followTheme);

  // Swagger UI 5 shows parameters that a path item shares with its operations, given as
  // $refs into components, as a nameless "any": give each operation its own copy, resolved.
  // The served document stays as it is (standard OpenAPI 3.1).
  function inlineSharedParameters(doc) {
    const named = (doc.components && doc.components.parameters) || {};
    const prefix = "#/components/parameters/";
    const resolve = (p) => (p.$ref && p.$ref.startsWith(prefix) ? named[p.$ref.slice(prefix.length)] || p : p);
    for (const item of Object.values(doc.paths || {})) {
      const shared = (item.parameters || []).map(resolve);
      delete item.parameters;
      for (const operation of Object.values(item)) {
        if (!operation || typeof operation !== "object" || !operation.responses) continue;
        const own = (operation.parameters || []).map(resolve);
        const inherited = shared.filter((s) => !own.some((o) => o.name === s.name && o.in === s.in));
        operation.parameters = [...inherited, ...own];
      }
    }
    return doc;
  }

  const holder = document.getElementById("swagger-ui");
  fetch(holder.dataset.spec, { credentials: "same-origin" })
    .then((response) => {
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      return response.json();
    })
    .then((doc) => {
      window.ui = SwaggerUIBundle({
        spec: inlineSharedParameters(doc),
        domNode: holder,
        deepLinking: true,
        filter: true,
        docExpansion: "list",
        defaultModelsExpandDepth: 0,
        validatorUrl: null, // no badge fetched from elsewhere
      });
    })
    .catch((err) => {
      holder.textContent = `Could not load the OpenAPI document (${err.message}).`;
    });
})();
