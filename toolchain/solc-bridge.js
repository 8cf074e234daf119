#!/usr/bin/env node
// A stand-in for the native `solc` executable, built on solc-js (npm `solc`).
//
// Where the native compiler cannot be downloaded (offline machines), insitu
// installs a small shell wrapper named `solc-v<version>` into py-solc-x's
// install folder that runs this file. It speaks the part of native solc's
// command line that py-solc-x, `brownie compile` and slither use:
//
//   --version                      version banner (the wrapper answers it without Node)
//   --help                         includes the `--combined-json` line py-solc-x parses
//   --standard-json                JSON in on stdin, JSON out on stdout
//   --combined-json a,b,... FILES  the legacy interface (py-solc-x compile_files, slither)
//   --base-path P, --include-path P, --allow-paths A,B
//   prefix=path                    import remappings (combined-json mode)
//   --optimize, --optimize-runs N, --evm-version V, --via-ir
//
// Imports are read only from the base path, include paths and allowed paths,
// as native solc does.
"use strict";

const fs = require("fs");
const path = require("path");

const solc = require(process.env.INSITU_SOLCJS_MODULE || "solc");

const COMBINED_OUTPUTS =
  "abi,asm,ast,bin,bin-runtime,devdoc,function-debug,function-debug-runtime," +
  "generated-sources,generated-sources-runtime,hashes,metadata,opcodes,srcmap," +
  "srcmap-runtime,storage-layout,userdoc";

function parseArgs(argv) {
  const opts = {
    allowPaths: [], includePaths: [], basePath: null, files: [], remappings: [],
    standardJson: false, combinedJson: null, optimize: false, optimizeRuns: 200,
    evmVersion: null, viaIR: false, help: false, version: false,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => argv[++i];
    if (a === "--version") opts.version = true;
    else if (a === "--help") opts.help = true;
    else if (a === "--standard-json") opts.standardJson = true;
    else if (a === "--combined-json") opts.combinedJson = next().split(",");
    else if (a === "--allow-paths") opts.allowPaths.push(...next().split(",").filter(Boolean));
    else if (a === "--base-path") opts.basePath = next();
    else if (a === "--include-path") opts.includePaths.push(next());
    else if (a === "--optimize") opts.optimize = true;
    else if (a === "--optimize-runs") opts.optimizeRuns = parseInt(next(), 10);
    else if (a === "--evm-version") opts.evmVersion = next();
    else if (a === "--via-ir") opts.viaIR = true;
    else if (a === "--no-color" || a === "--color" || a === "--pretty-json") { /* cosmetic */ }
    else if (a.startsWith("--")) throw new Error(`unsupported option ${a} (solc-js bridge)`);
    else if (a.includes("=")) opts.remappings.push(a);
    else opts.files.push(a);
  }
  return opts;
}

function versionBanner() {
  return `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`;
}

function helpText() {
  return [
    "solc, the Solidity commandline compiler (solc-js bridge used by insitu).",
    "",
    "Usage: solc [options] [input_file...]",
    "",
    "Options:",
    "  --version            Show version and exit.",
    "  --standard-json      Switch to Standard JSON input / output mode.",
    "  --base-path path     Use the given path as the root of the source tree.",
    "  --include-path path  Make an additional source directory available.",
    "  --allow-paths path(s)",
    "                       Allow a given path for imports.",
    "",
    "Output Components:",
    `  --combined-json ${COMBINED_OUTPUTS}`,
    "",
  ].join("\n");
}

function makeImportReader(opts) {
  const base = path.resolve(opts.basePath || process.cwd());
  const roots = [base, ...opts.includePaths, ...opts.allowPaths].map((p) => path.resolve(p));
  const inside = (file) => roots.some((r) => file === r || file.startsWith(r + path.sep));
  return function findImports(importPath) {
    const candidates = path.isAbsolute(importPath)
      ? [importPath]
      : [base, ...opts.includePaths.map((p) => path.resolve(p))].map((r) => path.join(r, importPath));
    for (const candidate of candidates) {
      const file = path.resolve(candidate);
      if (inside(file) && fs.existsSync(file) && fs.statSync(file).isFile()) {
        return { contents: fs.readFileSync(file, "utf8") };
      }
    }
    return { error: `File not found inside the base path or any of the include/allowed paths: ${importPath}` };
  };
}

function compileStandard(inputText, opts) {
  return solc.compile(inputText, { import: makeImportReader(opts) });
}

// The legacy interface, implemented through standard JSON.
function compileCombined(opts) {
  const wanted = opts.combinedJson;
  const base = path.resolve(opts.basePath || process.cwd());
  const sources = {};
  for (const f of opts.files) {
    const abs = path.resolve(f);
    const key = abs.startsWith(base + path.sep) ? path.relative(base, abs) : abs;
    sources[key] = { content: fs.readFileSync(abs, "utf8") };
  }
  const selection = new Set(["abi", "metadata", "devdoc", "userdoc", "storageLayout",
    "evm.bytecode", "evm.deployedBytecode", "evm.methodIdentifiers"]);
  const input = {
    language: "Solidity",
    sources,
    settings: {
      remappings: opts.remappings,
      optimizer: { enabled: opts.optimize, runs: opts.optimizeRuns },
      viaIR: opts.viaIR,
      outputSelection: { "*": { "*": [...selection], "": ["ast"] } },
    },
  };
  if (opts.evmVersion) input.settings.evmVersion = opts.evmVersion;
  const out = JSON.parse(compileStandard(JSON.stringify(input), { ...opts, allowPaths: [...opts.allowPaths, base] }));
  const errors = (out.errors || []).filter((e) => e.severity === "error");
  for (const e of out.errors || []) process.stderr.write((e.formattedMessage || e.message) + "\n");
  if (errors.length) return null;

  const contracts = {};
  for (const [file, byName] of Object.entries(out.contracts || {})) {
    for (const [name, c] of Object.entries(byName)) {
      const entry = {};
      const evm = c.evm || {};
      const pick = {
        abi: () => c.abi,
        bin: () => evm.bytecode && evm.bytecode.object,
        "bin-runtime": () => evm.deployedBytecode && evm.deployedBytecode.object,
        srcmap: () => evm.bytecode && evm.bytecode.sourceMap,
        "srcmap-runtime": () => evm.deployedBytecode && evm.deployedBytecode.sourceMap,
        opcodes: () => evm.bytecode && evm.bytecode.opcodes,
        hashes: () => evm.methodIdentifiers,
        metadata: () => c.metadata,
        devdoc: () => c.devdoc,
        userdoc: () => c.userdoc,
        "storage-layout": () => c.storageLayout,
      };
      for (const key of wanted) if (pick[key]) entry[key] = pick[key]();
      contracts[`${file}:${name}`] = entry;
    }
  }
  const result = { contracts, version: solc.version() };
  if (wanted.includes("ast")) {
    result.sources = {};
    result.sourceList = Object.keys(out.sources || {});
    for (const [file, s] of Object.entries(out.sources || {})) result.sources[file] = { AST: s.ast, id: s.id };
  }
  return JSON.stringify(result);
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) return process.stdout.write(versionBanner());
  if (opts.help) return process.stdout.write(helpText());
  if (opts.standardJson) {
    const input = fs.readFileSync(0, "utf8");
    return process.stdout.write(compileStandard(input, opts));
  }
  if (opts.combinedJson) {
    const text = compileCombined(opts);
    if (text === null) { process.exitCode = 1; return; }
    return process.stdout.write(text + "\n");
  }
  process.stderr.write("solc-js bridge: nothing to do (see --help)\n");
  process.exitCode = 1;
}

try {
  main();
} catch (err) {
  process.stderr.write(`solc-js bridge: ${err.message}\n`);
  // exitCode, not exit(): exit() can cut a large stdout write short on a pipe.
  process.exitCode = 1;
}
