import { startServer } from "./tests/support/server";

// One confab server for the whole run, on 127.0.0.1 port 0; stopped at the end.
export default async function globalSetup() {
  const server = await startServer();
  process.env.E2E_BASE_URL = server.url;
  return async () => {
    await server.stop();
  };
}
