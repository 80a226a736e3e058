import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, linesWithText, messageFrom, openChat, send, setName, status, uniqueRoom } from "./support/chat";
import { startEngines, startProxy } from "./support/cluster";
import { freePort, startServer } from "./support/server";

test.afterEach(closeChats);

test("two browsers on two nodes chat, and one carries on through the other node when its own dies", async ({ browser }) => {
  test.setTimeout(90_000);
  const engines = await startEngines();
  const [portA, portB] = [await freePort(), await freePort()];
  // Each browser reaches its node through a proxy, as through a load
  // balancer; the page's origin is the proxy's.
  const [toA, toB] = [await startProxy(portA), await startProxy(portB)];
  const env = {
    CONFAB_STORAGE: "postgres",
    CONFAB_DATABASE_URL: engines.databaseUrl,
    CONFAB_REDIS_URL: engines.redisUrl,
    CONFAB_PUBLIC_ORIGINS: [toA.url, toB.url].join(","),
  };
  const nodeA = await startServer({ port: portA, env });
  const nodeB = await startServer({ port: portB, env });
  try {
    const room = uniqueRoom("cluster");
    const ana = await openChat(browser, toA.url);
    const ben = await openChat(browser, toB.url);
    await setName(ana.page, "Ana");
    await setName(ben.page, "Ben");
    await joinRoom(ana.page, room);
    await joinRoom(ben.page, room);
    await send(ana.page, "hello from node A");
    await expect(messageFrom(ben.page, "Ana", "hello from node A")).toBeVisible();
    await send(ben.page, "hello from node B");
    await expect(messageFrom(ana.page, "Ben", "hello from node B")).toBeVisible();

    // Node A dies; Ana's connection now reaches node B.
    await nodeA.kill();
    toA.pointAt(portB);
    await expect(status(ana.page)).toHaveAttribute("data-status", "connected", { timeout: 20_000 });
    await send(ben.page, "while Ana moved");
    await send(ana.page, "still here, through node B");
    await expect(messageFrom(ben.page, "Ana", "still here, through node B")).toBeVisible();
    await expect(messageFrom(ana.page, "Ben", "while Ana moved")).toBeVisible();
    for (const person of [ana, ben]) {
      for (const text of ["hello from node A", "hello from node B", "while Ana moved", "still here, through node B"]) {
        await expect(linesWithText(person.page, text)).toHaveCount(1);
      }
    }
  } finally {
    await nodeA.kill();
    await nodeB.stop();
    toA.close();
    toB.close();
    engines.stop();
  }
});
