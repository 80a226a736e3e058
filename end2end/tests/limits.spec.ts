import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, messageFrom, messageLog, openChat, setName, uniqueRoom } from "./support/chat";
import { startServer } from "./support/server";

test.afterEach(closeChats);

// A server that allows three messages at once, then one every 1.3 s: the
// user who writes faster is told to slow down, and what they wrote goes out
// by itself once allowed, once each and in order.
test("past the message limit the sender is told to slow down and nothing is lost", async ({ browser }) => {
  const server = await startServer({ env: { CONFAB_RATE_LIMITS__MESSAGES: "3/4s" } });
  try {
    const room = uniqueRoom("slow");
    const ana = await openChat(browser, server.url);
    const ben = await openChat(browser, server.url);
    await setName(ana.page, "Ana");
    await joinRoom(ana.page, room);
    await joinRoom(ben.page, room);

    const texts = Array.from({ length: 7 }, (_, n) => `quick ${n + 1}`);
    const box = ana.page.getByLabel("Message", { exact: true });
    for (const text of texts) {
      await box.fill(text);
      await box.press("Enter");
    }
    const notice = ana.page.locator(".typing");
    await expect(notice).toHaveText("Slow down: your messages go out in a moment");
    // Held, not failed: still pending, no "Not sent".
    await expect(ana.page.locator('li.message[data-delivery="failed"]')).toHaveCount(0);

    for (const text of texts) {
      await expect(messageFrom(ben.page, "Ana", text)).toBeVisible({ timeout: 20_000 });
    }
    await expect(ana.page.locator('li.message[data-delivery="sent"]')).toHaveCount(texts.length, {
      timeout: 20_000,
    });
    await expect(notice).toHaveText("");
    // Once each, in the order written.
    const seen = await messageLog(ben.page).locator("li.message .text").allTextContents();
    expect(seen.map((t) => t.trim())).toEqual(texts);
  } finally {
    await server.stop();
  }
});
