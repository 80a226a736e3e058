import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";

const repo = path.resolve(__dirname, "../../..");

export interface RunningServer {
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts the release binary (built by `cargo leptos build --release`) on a
 * port the kernel picks, and resolves once it prints its address.
 */
export function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const binary = process.env.CONFAB_BIN ?? path.join(repo, "target/release/confab");
  const child = spawn(binary, [], {
    cwd: repo,
    env: {
      ...process.env,
      CONFAB_SITE_ADDR: "127.0.0.1:0",
      LEPTOS_SITE_ROOT: path.join(repo, "target/site"),
      RUST_LOG: process.env.RUST_LOG ?? "warn",
      ...env,
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
        resolve({ url: match[1], stop: () => stop(child) });
      }
    };
    child.stdout?.on("data", onData);
    child.once("error", reject);
    child.once("exit", (code) => reject(new Error(`confab exited early with ${code}: ${seen}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.once("exit", () => resolve());
    child.kill("SIGTERM");
  });
}
