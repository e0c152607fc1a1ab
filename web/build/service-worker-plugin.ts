/**
 * Writes `dist/sw.js` after the build: a service worker that precaches the app shell (every
 * built file: index.html, hashed assets, icons, manifest) under a cache named after a hash
 * of their contents. API responses are never cached (see build/sw.template.js).
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import type { Plugin, ResolvedConfig } from "vite";

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...walk(path));
    else out.push(path);
  }
  return out;
}

export function serviceWorker(): Plugin {
  let config: ResolvedConfig;
  return {
    name: "tipline-service-worker",
    apply: "build",
    configResolved(resolved) {
      config = resolved;
    },
    closeBundle() {
      const outDir = config.build.outDir;
      const files = walk(outDir)
        .map((f) => relative(outDir, f).split(sep).join("/"))
        .filter((f) => f !== "sw.js" && !f.endsWith(".map"))
        .sort();
      const hash = createHash("sha256");
      for (const f of files) hash.update(f).update(readFileSync(join(outDir, f)));
      const urls = files.map((f) => (f === "index.html" ? "/" : `/${f}`));
      const template = readFileSync(new URL("./sw.template.js", import.meta.url), "utf8");
      const source = template
        .replace("__VERSION__", JSON.stringify(hash.digest("hex").slice(0, 16)))
        .replace("__PRECACHE__", JSON.stringify(urls));
      writeFileSync(join(outDir, "sw.js"), source);
    },
  };
}
