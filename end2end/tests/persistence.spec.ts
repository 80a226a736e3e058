import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, type Person, linesWithText, messageFrom, openChat, send, setName, status, uniqueRoom } from "./support/chat";
import { freePort, startServer, tempDataDir } from "./support/server";

test.afterEach(closeChats);

test("a reload brings back the identity, the rooms and the history", async ({ browser }) => {
  const reloadARoom = uniqueRoom("reload-a");
  const reloadBRoom = uniqueRoom("reload-b");
  const ana = await openChat(browser);
  await setName(ana.page, "Ana Reloaded");
  await joinRoom(ana.page, reloadARoom);
  await joinRoom(ana.page, reloadBRoom);
  await send(ana.page, "kept across reloads");
  await expect(ana.page.locator('li.message[data-delivery="sent"]')).toHaveCount(1);

  await ana.page.reload();
  await expect(status(ana.page)).toHaveAttribute("data-status", "connected");
  await expect(ana.page.locator(".me")).toHaveText("Ana Reloaded");
  for (const room of [reloadARoom, reloadBRoom]) {
    await expect(ana.page.getByRole("button", { name: `#${room}` })).toBeVisible();
  }
  await ana.page.getByRole("button", { name: `#${reloadBRoom}` }).click();
  await expect(messageFrom(ana.page, "Ana Reloaded", "kept across reloads")).toBeVisible();
  await expect(linesWithText(ana.page, "kept across reloads")).toHaveCount(1);
});

test("a crash and a graceful restart mid-conversation lose nothing and show nothing twice", async ({ browser }) => {
  const restartRoom = uniqueRoom("restart");
  const port = await freePort();
  const dataDir = tempDataDir();
  let server = await startServer({ port, dataDir });
  const ana = await openChat(browser, server.url);
  const ben = await openChat(browser, server.url);
  await setName(ana.page, "Ana");
  await setName(ben.page, "Ben");
  await joinRoom(ana.page, restartRoom);
  await joinRoom(ben.page, restartRoom);
  // Each waits for the other to see it, so the order is fixed.
  for (const n of [1, 2, 3]) {
    await send(ana.page, `before ${n}`);
    await expect(messageFrom(ben.page, "Ana", `before ${n}`)).toBeVisible();
    await send(ben.page, `reply ${n}`);
    await expect(messageFrom(ana.page, "Ben", `reply ${n}`)).toBeVisible();
  }

  // The server dies without a word (SIGKILL): both pages notice.
  await server.kill();
  for (const person of [ana, ben]) {
    await expect(status(person.page)).not.toHaveAttribute("data-status", "connected");
    await expect(person.page.locator(".banner")).toContainText("Reconnecting");
  }
  // Typed while the server is down: pending, kept.
  await send(ana.page, "typed while down");
  const pending = ana.page.locator("li.message", { hasText: "typed while down" });
  await expect(pending).toHaveAttribute("data-delivery", "pending");

  server = await startServer({ port, dataDir });
  for (const person of [ana, ben]) {
    await expect(status(person.page)).toHaveAttribute("data-status", "connected", { timeout: 20_000 });
  }
  await expect(messageFrom(ben.page, "Ana", "typed while down")).toBeVisible();
  await expect(ana.page.locator(".banner")).toHaveCount(0);
  await expect(ana.page.locator("li.message", { hasText: "typed while down" })).toHaveAttribute(
    "data-delivery",
    "sent",
  );
  await send(ben.page, "after the restart");
  await expect(messageFrom(ana.page, "Ben", "after the restart")).toBeVisible();

  // Now a graceful restart (SIGTERM: notice, close code 1012), with Ben
  // writing while it is down.
  await server.stop();
  await expect(status(ben.page)).not.toHaveAttribute("data-status", "connected");
  await send(ben.page, "typed during the graceful restart");
  server = await startServer({ port, dataDir });
  for (const person of [ana, ben]) {
    await expect(status(person.page)).toHaveAttribute("data-status", "connected", { timeout: 20_000 });
  }
  await expect(messageFrom(ana.page, "Ben", "typed during the graceful restart")).toBeVisible();

  // Every line exactly once, in order, on both screens.
  const expected = [
    "before 1",
    "reply 1",
    "before 2",
    "reply 2",
    "before 3",
    "reply 3",
    "typed while down",
    "after the restart",
    "typed during the graceful restart",
  ];
  for (const person of [ana, ben]) {
    await expect(person.page.locator("li.message .text")).toHaveText(expected);
  }
  await server.stop();
});

test("after memory storage restarts, open pages drop the old numbering and show the new history", async ({ browser }) => {
  const room = uniqueRoom("epoch");
  const port = await freePort();
  const dataDir = tempDataDir();
  // A configured secret: both keep their identity across the restart.
  const memory = { CONFAB_STORAGE: "memory", CONFAB_TOKEN_SECRET: "e2e-secret-".repeat(4) };
  let server = await startServer({ port, dataDir, env: memory });
  const ana = await openChat(browser, server.url);
  const ben = await openChat(browser, server.url);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  for (const n of [1, 2, 3]) {
    await send(ana.page, `old ${n}`);
    await expect(messageFrom(ben.page, ana.name, `old ${n}`)).toBeVisible();
    await send(ben.page, `old reply ${n}`);
    await expect(messageFrom(ana.page, ben.name, `old reply ${n}`)).toBeVisible();
  }

  // The history is gone with the process; the new one numbers from 1 again.
  await server.kill();
  for (const person of [ana, ben]) {
    await expect(status(person.page)).not.toHaveAttribute("data-status", "connected");
  }
  server = await startServer({ port, dataDir, env: memory });
  for (const person of [ana, ben]) {
    await expect(status(person.page)).toHaveAttribute("data-status", "connected", { timeout: 20_000 });
  }
  await send(ben.page, "new 1");
  await expect(messageFrom(ana.page, ben.name, "new 1")).toBeVisible();
  await send(ana.page, "new 2");
  await expect(messageFrom(ben.page, ana.name, "new 2")).toBeVisible();

  // Each page shows what the server holds, under the right senders: no old
  // line kept beside the new ones, none replaced by a new one of its number.
  const shown = (person: Person, name: string) => (name === person.name ? `${name} (you)` : name);
  for (const person of [ana, ben]) {
    await expect(person.page.locator("li.message .text")).toHaveText(["new 1", "new 2"]);
    await expect(person.page.locator("li.message .from")).toHaveText(
      [ben.name, ana.name].map((name) => shown(person, name)),
    );
  }
  await server.stop();
});

test("a message not yet sent survives a page reload and goes out after it", async ({ browser }) => {
  const outboxRoom = uniqueRoom("outbox");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, outboxRoom);
  await joinRoom(ben.page, outboxRoom);

  // Cut Ana's page off from the server: its next sockets go nowhere.
  let cutOff = true;
  await ana.page.routeWebSocket(/\/ws$/, (socket) => {
    if (!cutOff) socket.connectToServer();
  });
  await ana.page.reload();
  await expect(status(ana.page)).not.toHaveAttribute("data-status", "connected");
  await expect(ana.page.getByRole("button", { name: `#${outboxRoom}` })).toBeVisible();
  await send(ana.page, "written while cut off");
  await expect(ana.page.locator("li.message", { hasText: "written while cut off" })).toHaveAttribute(
    "data-delivery",
    "pending",
  );

  // Reload with the connection back: the unsent message comes from storage.
  cutOff = false;
  await ana.page.reload();
  await expect(status(ana.page)).toHaveAttribute("data-status", "connected");
  await expect(messageFrom(ben.page, ana.name, "written while cut off")).toBeVisible();
  await expect(linesWithText(ben.page, "written while cut off")).toHaveCount(1);
  await expect(ana.page.locator("li.message", { hasText: "written while cut off" })).toHaveAttribute(
    "data-delivery",
    "sent",
  );
});
