import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";

// The bundle goes out compressed: brotli to browsers that accept it, gzip to
// those that only accept that, as written by `make build`.
for (const [encoding, suffix] of [["br", ".br"], ["gzip", ".gz"]] as const) {
  test(`the WASM bundle is served precompressed with ${encoding}`, async ({ request }) => {
    const response = await request.get("/pkg/confab.wasm", { headers: { "Accept-Encoding": encoding } });
    expect(response.status()).toBe(200);
    expect(response.headers()["content-encoding"]).toBe(encoding);
    expect(response.headers()["content-type"]).toBe("application/wasm");
    // Playwright decodes the body; the bytes must be the whole bundle.
    const body = await response.body();
    expect(body.equals(readFileSync("../target/site/pkg/confab.wasm"))).toBe(true);
    expect(Number(response.headers()["content-length"])).toBe(readFileSync(`../target/site/pkg/confab.wasm${suffix}`).length);
  });
}
