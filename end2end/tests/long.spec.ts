import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, messageLog, openChat, postMany, send, uniqueRoom } from "./support/chat";

test.afterEach(closeChats);

/** Lines (messages and system lines) in the page's message list. */
const MAX_LINES = 500;

test("a room with 10,000 messages keeps the page small, far up and back down", async ({ browser }) => {
  test.setTimeout(120_000);
  const bigRoom = uniqueRoom("big");
  const ana = await openChat(browser);
  await postMany(ana.page, bigRoom, "msg", 10_000);
  await joinRoom(ana.page, bigRoom);
  const log = messageLog(ana.page);
  const lines = log.locator("li");
  const text = (n: number) => log.locator("li.message .text").getByText(`msg ${n}`, { exact: true });
  await expect(text(10_000)).toBeInViewport();

  // Up through 1,000 messages, a page at a time, by scrolling to the top.
  for (let page = 1; page <= 20; page++) {
    const first = 10_000 - 50 * page;
    await log.evaluate((list) => (list.scrollTop = 0));
    await expect(text(first)).toBeAttached();
    expect(await lines.count()).toBeLessThanOrEqual(MAX_LINES);
  }
  await expect(text(9_000)).toBeInViewport();
  await expect(text(10_000)).toHaveCount(0);
  const jump = ana.page.getByRole("button", { name: "Jump to latest" });
  await expect(jump).toBeVisible();

  // Scrolling down pages the newer ones back in, the view staying put.
  const lastHeld = async () => Number((await log.locator("li.message .text").last().textContent())?.split(" ")[1]);
  const before = await lastHeld();
  await log.evaluate((list) => (list.scrollTop = list.scrollHeight));
  await expect.poll(lastHeld).toBeGreaterThan(before);
  expect(await lines.count()).toBeLessThanOrEqual(MAX_LINES);
  await expect(text(before)).toBeInViewport();

  // The button goes to the end at once; a new message shows there again.
  await jump.click();
  await expect(text(10_000)).toBeInViewport();
  await expect(jump).toHaveCount(0);
  expect(await lines.count()).toBeLessThanOrEqual(MAX_LINES);
  await send(ana.page, "and one more");
  await expect(log.locator("li.message .text").last()).toHaveText("and one more");
  await expect(log.locator("li.message .text").last()).toBeInViewport();
});

test("switching conversations keeps each one's scroll position and unsent draft", async ({ browser }) => {
  const first = uniqueRoom("first");
  const second = uniqueRoom("second");
  const ana = await openChat(browser);
  await joinRoom(ana.page, first);
  await postMany(ana.page, first, "first", 120);
  await joinRoom(ana.page, second);
  await postMany(ana.page, second, "second", 120);
  const log = messageLog(ana.page);
  const text = (prefix: string, n: number) =>
    log.locator("li.message .text").getByText(`${prefix} ${n}`, { exact: true });

  // In the first room, scroll up to message 60; the second stays at its end.
  await ana.page.getByRole("button", { name: `#${first}` }).click();
  await expect(text("first", 120)).toBeInViewport();
  await text("first", 60).evaluate((line) => line.scrollIntoView({ block: "start" }));
  await expect(text("first", 120)).not.toBeInViewport();
  const top = (await text("first", 60).boundingBox())!.y;

  const box = ana.page.getByLabel("Message", { exact: true });
  await box.fill("half a thought");
  await ana.page.getByRole("button", { name: `#${second}` }).click();
  await expect(text("second", 120)).toBeInViewport();
  await expect(box).toHaveValue("");
  await ana.page.getByRole("button", { name: `#${first}` }).click();
  await expect(box).toHaveValue("half a thought");
  await expect(text("first", 60)).toBeInViewport();
  expect(Math.abs((await text("first", 60).boundingBox())!.y - top)).toBeLessThanOrEqual(2);
  await expect(text("first", 120)).not.toBeInViewport();
  await ana.page.getByRole("button", { name: `#${second}` }).click();
  await expect(text("second", 120)).toBeInViewport();
});
