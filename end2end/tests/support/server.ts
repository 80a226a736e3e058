import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const repo = path.resolve(__dirname, "../../..");

export interface RunningServer {
  url: string;
  /** SIGTERM: the graceful shutdown (notice, 1012). */
  stop(): Promise<void>;
  /** SIGKILL: a crash; nothing is flushed. */
  kill(): Promise<void>;
}

/** A fresh data directory (SQLite file, token secret), removed at exit. */
export function tempDataDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "confab-e2e-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A port that was free a moment ago, for a server that must come back on the same address. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Starts the release binary (built by `cargo leptos build --release`) on
 * `port` (0: one the kernel picks) with `dataDir` (default: a fresh one) and
 * any further settings in `env`, and resolves once it prints its address.
 */
export function startServer(
  options: { port?: number; dataDir?: string; env?: Record<string, string> } = {},
): Promise<RunningServer> {
  const binary = process.env.CONFAB_BIN ?? path.join(repo, "target/release/confab");
  const child = spawn(binary, [], {
    cwd: repo,
    env: {
      ...process.env,
      CONFAB_SITE_ADDR: `127.0.0.1:${options.port ?? 0}`,
      CONFAB_DATA_DIR: options.dataDir ?? tempDataDir(),
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      // SIGTERM stops at once: the drain is tested in tests/shutdown.rs.
      CONFAB_DRAIN_DELAY_MS: "0",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  return new Promise((resolve, reject) => {
    let seen = "";
    const onData = (chunk: Buffer) => {
      seen += chunk.toString();
      const match = seen.match(/confab listening on (http:\/\/[\d.]+:\d+)/);
      if (match) {
        child.stdout?.off("data", onData);
        child.stdout?.resume(); // keep draining the log
        resolve({
          url: match[1],
          stop: () => signal(child, "SIGTERM"),
          kill: () => signal(child, "SIGKILL"),
        });
      }
    };
    child.stdout?.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`confab exited early with ${code}: ${seen}`)));
  });
}

function signal(child: ChildProcess, name: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill(name);
  });
}
