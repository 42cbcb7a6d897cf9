// Builds the agent desktop into dist/: one hashed JS bundle, one hashed CSS
// file and an index.html naming them. omniccd embeds dist/ (desk/desk.go).
import * as esbuild from "esbuild";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename } from "node:path";

const watch = process.argv.includes("--watch");

// Keep dist/.gitkeep (go:embed needs the folder before the first build).
mkdirSync("dist", { recursive: true });
for (const f of readdirSync("dist")) if (f !== ".gitkeep") rmSync(`dist/${f}`, { recursive: true, force: true });

const options = {
  entryPoints: { desk: "src/main.jsx" },
  bundle: true,
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  format: "esm",
  splitting: true,
  chunkNames: "[name]-[hash]",
  target: ["chrome109", "firefox115", "safari16"],
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: "dist/assets",
  entryNames: "[name]-[hash]",
  metafile: true,
  legalComments: "linked",
  logLevel: "warning",
  plugins: [{
    name: "index-html",
    setup(build) {
      build.onEnd((result) => {
        if (result.errors.length) return;
        const outs = Object.keys(result.metafile.outputs).map((p) => basename(p));
        const js = outs.find((f) => f.startsWith("desk-") && f.endsWith(".js"));
        const css = outs.find((f) => f.startsWith("desk-") && f.endsWith(".css"));
        writeFileSync("dist/index.html", `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>omnicc desk</title>
<link rel="icon" href="data:,">
${css ? `<link rel="stylesheet" href="/desk/assets/${css}">` : ""}
<script type="module" src="/desk/assets/${js}"></script>
</head>
<body><div id="app"></div></body>
</html>
`);
      });
    },
  }],
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  console.log("watching src/ …");
} else {
  await esbuild.build(options);
}
