import { startServer } from "./tests/support/server";

// One confab server for the whole run, on 127.0.0.1 port 0; stopped at the end.
// With the default rate limits but for messages: tests seed long histories by
// typing or posting far faster than people write. The message limits have a
// server of their own in limits.spec.ts.
export default async function globalSetup() {
  const server = await startServer({
    env: {
      CONFAB_RATE_LIMITS__MESSAGES: "off",
      CONFAB_RATE_LIMITS__USER_MESSAGES: "off",
      CONFAB_RATE_LIMITS__ADDRESS_MESSAGES: "off",
    },
  });
  process.env.E2E_BASE_URL = server.url;
  return async () => {
    await server.stop();
  };
}
