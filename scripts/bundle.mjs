// The browser bundle as served: writes brotli (.br) and gzip (.gz) copies of
// target/site/pkg/* beside each file (the server sends them to browsers that
// accept them), then prints the compressed sizes and, with --check, fails
// when the WASM plus JS compressed with brotli exceed the budget recorded in
// .ci/bundle-budget. Node's own zlib does the compressing: nothing to install.
import { brotliCompressSync, constants, gzipSync } from "node:zlib";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const pkg = "target/site/pkg";
const budgetFile = ".ci/bundle-budget";

const sizes = {};
for (const name of readdirSync(pkg)) {
  if (!/\.(wasm|js|css)$/.test(name)) continue;
  const path = join(pkg, name);
  const raw = readFileSync(path);
  const br = brotliCompressSync(raw, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 11,
      [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
    },
  });
  const gz = gzipSync(raw, { level: 9 });
  writeFileSync(`${path}.br`, br);
  writeFileSync(`${path}.gz`, gz);
  sizes[name] = { raw: raw.length, br: br.length, gz: gz.length };
  console.log(`${name.padEnd(14)} ${String(raw.length).padStart(9)} B raw ${String(br.length).padStart(8)} B brotli ${String(gz.length).padStart(8)} B gzip`);
}

const served = ["confab.wasm", "confab.js"].reduce((sum, name) => sum + (sizes[name]?.br ?? NaN), 0);
const budget = Number(readFileSync(budgetFile, "utf8").split("\n").find((line) => /^\d+/.test(line)));
console.log(`WASM + JS with brotli: ${served} B; budget ${budget} B (${budgetFile})`);
if (process.argv.includes("--check") && !(served <= budget)) {
  console.error(`The bundle grew past its budget by ${served - budget} B.`);
  process.exit(1);
}
