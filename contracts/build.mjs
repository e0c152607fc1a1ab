// Compile Tipline's contracts offline with solc-js and write each contract's ABI and bytecode
// to src/tipline/chain/artifacts/<Name>.json, where the Python package loads them. The files are
// generated (never edit them); manifest.json records the compiler, its settings, a hash of
// every source and the version of each npm library imported, so a stale artifact is detected
// without a compiler (tests/chain/test_artifacts.py).
//
// Imports resolve only to the libraries in LIBRARIES, read from contracts/node_modules (pinned by
// package-lock.json): the build never downloads anything.
//
//   node build.mjs          compile if a source changed (quick no-op otherwise)
//   node build.mjs --force  always compile
//   node build.mjs --check  compile and fail if the written artifacts differ from the result
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "tipline", "chain", "artifacts");
const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: "cancun",
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

const LIBRARIES = ["@openzeppelin/contracts"];

function libraryVersions() {
  return Object.fromEntries(
    LIBRARIES.map((lib) => [lib, JSON.parse(readFileSync(join(here, "node_modules", lib, "package.json"), "utf8")).version]),
  );
}

function findImport(path) {
  const lib = LIBRARIES.find((l) => path.startsWith(`${l}/`));
  // A source unit name never needs "..": refusing it keeps every import inside its package.
  if (!lib || path.split("/").includes("..")) return { error: `${path}: imports come only from ${LIBRARIES.join(", ")}` };
  const file = join(here, "node_modules", path);
  if (!existsSync(file)) return { error: `${path} not found: run \`npm ci\` in contracts/` };
  return { contents: readFileSync(file, "utf8") };
}

function sources() {
  const found = {};
  for (const dir of ["src", "test"]) {
    for (const file of readdirSync(join(here, dir)).sort()) {
      if (file.endsWith(".sol")) found[`${dir}/${file}`] = readFileSync(join(here, dir, file), "utf8");
    }
  }
  return found;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const pretty = (value) => JSON.stringify(value, null, 2) + "\n";

function manifestFor(srcs, version) {
  const hashes = Object.fromEntries(Object.entries(srcs).map(([p, text]) => [p, sha256(text)]));
  return { compiler: `solc-js ${version}`, settings: SETTINGS, sources: hashes, libraries: libraryVersions() };
}

function compile(srcs) {
  const require = createRequire(import.meta.url);
  const solc = require("solc");
  const input = {
    language: "Solidity",
    sources: Object.fromEntries(Object.entries(srcs).map(([p, content]) => [p, { content }])),
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage);
  if (errors.length) process.exit(1);
  const files = { "manifest.json": pretty(manifestFor(srcs, solc.version())) };
  for (const [path, contracts] of Object.entries(output.contracts)) {
    for (const [name, c] of Object.entries(contracts)) {
      if (c.evm.bytecode.object === "") continue; // interfaces
      files[`${name}.json`] = pretty({
        contractName: name,
        source: `contracts/${path}`,
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      });
    }
  }
  return files;
}

const mode = process.argv[2] ?? "";
const srcs = sources();
const manifestPath = join(out, "manifest.json");
if (mode === "") {
  const pkg = JSON.parse(readFileSync(join(here, "node_modules", "solc", "package.json"), "utf8"));
  if (existsSync(manifestPath)) {
    const have = JSON.parse(readFileSync(manifestPath, "utf8"));
    const want = manifestFor(srcs, "");
    if (have.compiler.startsWith(`solc-js ${pkg.version}`) && pretty(have.sources) === pretty(want.sources)
        && pretty(have.settings) === pretty(want.settings) && pretty(have.libraries) === pretty(want.libraries)) {
      process.exit(0);
    }
  }
}
const files = compile(srcs);
if (mode === "--check") {
  const stale = Object.entries(files).filter(([f, text]) => !existsSync(join(out, f)) || readFileSync(join(out, f), "utf8") !== text);
  const extra = existsSync(out) ? readdirSync(out).filter((f) => f.endsWith(".json") && !(f in files)) : [];
  if (stale.length || extra.length) {
    console.error(`contract artifacts are stale: ${[...stale.map(([f]) => f), ...extra].join(", ")}; run node contracts/build.mjs`);
    process.exit(1);
  }
  console.log("contract artifacts match the sources");
} else {
  mkdirSync(out, { recursive: true });
  for (const [f, text] of Object.entries(files)) writeFileSync(join(out, f), text);
  console.log(`compiled ${Object.keys(files).length - 1} contracts into ${out}`);
}
