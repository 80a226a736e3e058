import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

import { freePort } from "./server";

/**
 * Cluster mode's engines for the browser tests: a PostgreSQL 15 and a
 * Redis of the test's own on loopback, in temporary directories, stopped
 * by `stop()` (and at exit); and a TCP proxy that a test can point at
 * another node, as a load balancer would after one node died.
 */
const PG_BIN = "/usr/lib/postgresql/15/bin";
const isRoot = process.getuid?.() === 0;

/** PostgreSQL refuses to run as root: as root, its programs run as `postgres`. */
function pg(program: string, args: string[]) {
  const [command, all] = isRoot
    ? ["runuser", ["-u", "postgres", "--", path.join(PG_BIN, program), ...args]]
    : [path.join(PG_BIN, program), args];
  execFileSync(command, all, { stdio: ["ignore", "ignore", "inherit"] });
}

export interface Engines {
  databaseUrl: string;
  redisUrl: string;
  stop(): void;
}

export async function startEngines(): Promise<Engines> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "confab-e2e-cluster-"));
  chmodSync(dir, 0o777);
  const data = path.join(dir, "pg");
  pg("initdb", ["-D", data, "-A", "trust", "-U", "confab", "--no-sync"]);
  const pgPort = await freePort();
  pg("pg_ctl", [
    "-D", data, "-l", path.join(dir, "pg.log"), "-w", "start",
    "-o", `-p ${pgPort} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
  ]);
  const redisPort = await freePort();
  const redis: ChildProcess = spawn(
    "redis-server",
    ["--port", String(redisPort), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no"],
    { stdio: "ignore" },
  );
  await waitForPort(redisPort);
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    redis.kill("SIGKILL");
    try {
      pg("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", stop);
  return {
    databaseUrl: `postgres://confab@127.0.0.1:${pgPort}/postgres`,
    redisUrl: `redis://127.0.0.1:${redisPort}/`,
    stop,
  };
}

async function waitForPort(port: number) {
  for (let tries = 0; tries < 200; tries++) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** A TCP proxy on 127.0.0.1 to a node's port, which can be pointed elsewhere. */
export interface Proxy {
  url: string;
  /** Sends new connections to `port`, and drops the open ones (as a node's death would). */
  pointAt(port: number): void;
  close(): void;
}

export async function startProxy(target: number): Promise<Proxy> {
  let to = target;
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(to, "127.0.0.1");
    for (const socket of [client, upstream]) {
      open.add(socket);
      socket.once("close", () => open.delete(socket));
      socket.once("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    pointAt(port: number) {
      to = port;
      for (const socket of open) socket.destroy();
    },
    close() {
      server.close();
      for (const socket of open) socket.destroy();
    },
  };
}
