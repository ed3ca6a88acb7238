// Renders TeX to HTML with KaTeX for the site build (scripts/literate/math.py starts one of these per build).
// Protocol: one JSON request per line on stdin, {"tex": "...", "display": true|false}; one JSON reply per
// line on stdout, {"html": "..."} or, for TeX that KaTeX rejects, {"error": "...", "html": "<red TeX>"}.
// Usage: node katex_render.cjs REPO_ROOT   (KaTeX is loaded from REPO_ROOT/node_modules, put there by npm ci)
"use strict";
const path = require("path");
const readline = require("readline");

const root = process.argv[2] || process.cwd();
const katex = require(require.resolve("katex", { paths: [root] }));

function render(request) {
  const options = { displayMode: Boolean(request.display), output: "htmlAndMathml", strict: "ignore" };
  try {
    return { html: katex.renderToString(request.tex, { ...options, throwOnError: true }) };
  } catch (error) {
    const html = katex.renderToString(request.tex, { ...options, throwOnError: false });
    return { error: String(error.message || error), html };
  }
}

const lines = readline.createInterface({ input: process.stdin, terminal: false });
lines.on("line", (line) => {
  let reply;
  try {
    reply = render(JSON.parse(line));
  } catch (error) {
    reply = { error: String(error), html: "" };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
});
process.stdout.write(JSON.stringify({ ready: katex.version, script: path.basename(__filename) }) + "\n");
