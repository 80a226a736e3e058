import { expect, test, type Locator, type Page } from "@playwright/test";
import { closeChats, joinRoom, messageFrom, messageLog, openChat, postMany, send, uniqueRoom } from "./support/chat";

test.afterEach(closeChats);

/** A message's action bar: shown on hover (and on focus). */
/** Hovers a message and clicks its action `name`; again if the list moved
 * from under the pointer (new messages arriving scroll it) before the click. */
async function action(page: Page, message: Locator, name: string) {
  await expect(async () => {
    await message.hover();
    await message.getByRole("button", { name, exact: true }).click({ timeout: 2_000 });
  }).toPass();
}

test("an edit and a deletion reach the other person, and only the author may make them", async ({ browser }) => {
  const room = uniqueRoom("edits");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await send(ana.page, "helo wrold");
  const onBen = messageFrom(ben.page, ana.name, "helo wrold");
  await expect(onBen).toBeVisible();
  // Someone else's message has no Edit or Delete.
  await onBen.hover();
  await expect(onBen.getByRole("button", { name: "Reply" })).toBeVisible();
  await expect(onBen.getByRole("button", { name: "Edit" })).toHaveCount(0);
  await expect(onBen.getByRole("button", { name: "Delete" })).toHaveCount(0);

  await action(ana.page, messageFrom(ana.page, ana.name, "helo wrold"), "Edit");
  await expect(ana.page.locator(".composing")).toContainText("Editing your message");
  const box = ana.page.getByLabel("Message", { exact: true });
  await expect(box).toHaveValue("helo wrold");
  await box.fill("hello world");
  await box.press("Enter");
  const edited = messageFrom(ben.page, ana.name, "hello world");
  await expect(edited).toBeVisible();
  await expect(edited.locator(".edited")).toHaveText("(edited)");
  await expect(ben.page.getByText("helo wrold")).toHaveCount(0);

  const mine = messageFrom(ana.page, ana.name, "hello world");
  await action(ana.page, mine, "Delete");
  await mine.getByRole("button", { name: "Yes, delete" }).click();
  for (const page of [ana.page, ben.page]) {
    await expect(messageLog(page).locator("li.message .text.deleted")).toHaveText("Message deleted");
    await expect(page.getByText("hello world")).toHaveCount(0);
  }
});

test("reactions are toggled by two people, counted, and say who", async ({ browser }) => {
  const room = uniqueRoom("reactions");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await send(ana.page, "lunch?");
  const onBen = messageFrom(ben.page, ana.name, "lunch?");
  await action(ben.page, onBen, "React");
  await onBen.getByRole("button", { name: "React with 👍" }).click();

  const onAna = messageFrom(ana.page, ana.name, "lunch?");
  const thumbs = onAna.locator(".reaction");
  await expect(thumbs).toHaveText(/👍 1/);
  await expect(thumbs).toHaveAttribute("aria-pressed", "false");
  await thumbs.click();
  await expect(thumbs).toHaveText(/👍 2/);
  await expect(thumbs).toHaveAttribute("aria-pressed", "true");
  await expect(thumbs).toHaveAttribute("aria-label", `👍 2: ${ben.name} and ${ana.name} (you)`);
  const onBenThumbs = onBen.locator(".reaction");
  await expect(onBenThumbs).toHaveText(/👍 2/);
  await expect(onBenThumbs).toHaveAttribute("aria-pressed", "true");
  // Taking hers back leaves Ben's.
  await thumbs.click();
  await expect(thumbs).toHaveText(/👍 1/);
  await expect(thumbs).toHaveAttribute("aria-pressed", "false");
  await expect(onBenThumbs).toHaveText(/👍 1/);
});

test("a reply quotes its original, and the quote jumps to it even when it is off the page", async ({ browser }) => {
  const room = uniqueRoom("replies");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await send(ana.page, "the original question");
  await action(ben.page, messageFrom(ben.page, ana.name, "the original question"), "Reply");
  await expect(ben.page.locator(".composing")).toContainText(`Replying to ${ana.name}: the original question`);
  await send(ben.page, "the answer");
  const reply = messageFrom(ana.page, ben.name, "the answer");
  const quote = reply.locator(".reply-quote");
  await expect(quote).toHaveText(`In reply to ↪ ${ana.name}: the original question`);

  // Many messages later, after a reload, the original is no longer on the
  // page: the quote loads it, with what surrounds it, and marks it.
  await postMany(ana.page, room, "filler", 120);
  await send(ben.page, "still about that question");
  await ana.page.reload();
  await ana.page.getByRole("button", { name: `#${room}` }).click();
  await expect(messageFrom(ana.page, ben.name, "still about that question")).toBeVisible();
  await expect(messageLog(ana.page).getByText("the original question", { exact: true })).toHaveCount(0);
  // Ben's reply is off the page too; his next one quotes the original
  // again, which the server quotes with it.
  await action(ben.page, messageFrom(ben.page, ana.name, "the original question"), "Reply");
  await send(ben.page, "one more thing");
  const again = messageFrom(ana.page, ben.name, "one more thing").locator(".reply-quote");
  await expect(again).toHaveText(`In reply to ↪ ${ana.name}: the original question`);
  await again.click();
  const original = messageFrom(ana.page, ana.name, "the original question");
  await expect(original).toBeVisible();
  await expect(original).toHaveClass(/focused/);
  await expect(original).toBeInViewport();

  // Deleted, the original shows as deleted in every quote of it: live on
  // Ben's page, and on Ana's after a reload, where it is off the page.
  await action(ana.page, original, "Delete");
  await original.getByRole("button", { name: "Yes, delete" }).click();
  const onBen = messageFrom(ben.page, ben.name, "one more thing").locator(".reply-quote");
  await expect(onBen).toHaveText(`In reply to ↪ ${ana.name}: message deleted`);
  await ana.page.reload();
  await ana.page.getByRole("button", { name: `#${room}` }).click();
  const reloaded = messageFrom(ana.page, ben.name, "one more thing").locator(".reply-quote");
  await expect(reloaded).toHaveText(`In reply to ↪ ${ana.name}: message deleted`);
  await expect(ana.page.getByText("the original question")).toHaveCount(0);
});

test("on a touch screen a long press opens a message's action bar", async ({ browser }) => {
  const room = uniqueRoom("touch");
  const ana = await openChat(browser);
  const context = await browser.newContext({
    baseURL: process.env.E2E_BASE_URL,
    hasTouch: true,
    isMobile: true,
    viewport: { width: 375, height: 700 },
  });
  const page = await context.newPage();
  await page.goto("/");
  await expect(page.getByRole("status")).toHaveAttribute("data-status", "connected");
  expect(await page.evaluate(() => matchMedia("(hover: none)").matches)).toBe(true);
  await joinRoom(ana.page, room);
  await page.goto(`/r/${room}`);
  await expect(page.getByRole("status")).toHaveAttribute("data-status", "connected");
  await send(ana.page, "first");
  await send(ana.page, "second");
  const first = messageFrom(page, ana.name, "first");
  const second = messageFrom(page, ana.name, "second");
  await expect(second).toBeVisible();
  const width = async (message: Locator) => (await message.locator(".actions").boundingBox())?.width ?? 0;
  // Out of sight, yet a screen reader finds the buttons.
  expect(await width(first)).toBeLessThan(2);
  await expect(first.getByRole("button", { name: "Reply" })).toHaveCount(1);

  const touch = await context.newCDPSession(page);
  const at = async (message: Locator) => {
    const box = (await message.locator(".text").boundingBox())!;
    return [{ x: box.x + 5, y: box.y + box.height / 2 }];
  };
  // A tap on the first message, then a press held on the second: the
  // second's bar opens with its first button focused, the first's never did.
  await touch.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: await at(first) });
  await touch.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await touch.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: await at(second) });
  const reply = second.getByRole("button", { name: "Reply" });
  await expect(reply).toBeFocused();
  await touch.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  await expect(reply).toBeFocused();
  expect(await width(second)).toBeGreaterThan(40);
  expect(await width(first)).toBeLessThan(2);
  // Its buttons work as they do with a mouse, and it closes behind them.
  await reply.tap();
  await expect(page.locator(".composing")).toContainText(`Replying to ${ana.name}: second`);
  await expect(page.getByLabel("Message", { exact: true })).toBeFocused();
  expect(await width(second)).toBeLessThan(2);
  await context.close();
});

test("formatting is shown, and markup-like text shows literally", async ({ browser }) => {
  const room = uniqueRoom("format");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  const box = ana.page.getByLabel("Message", { exact: true });
  await box.fill("**bold** _it_ ~~old~~ `<b>code</b>` <i>html</i> \\*stars\\* [docs](https://example.org/x)");
  await box.press("Enter");
  await box.fill("> quoted\n```\nlet x = **y**;\n```");
  await box.press("Enter");
  const first = messageLog(ben.page).locator("li.message .text").first();
  await expect(first.locator(".md-b")).toHaveText("bold");
  await expect(first.locator(".md-i")).toHaveText("it");
  await expect(first.locator(".md-s")).toHaveText("old");
  await expect(first.locator("code")).toHaveText("<b>code</b>");
  await expect(first).toContainText("<i>html</i> *stars*");
  await expect(first.locator("b, i, script")).toHaveCount(0);
  const link = first.getByRole("link", { name: "docs" });
  await expect(link).toHaveAttribute("href", "https://example.org/x");
  await expect(first.locator(".md-host")).toHaveText("(example.org)");
  const second = messageLog(ben.page).locator("li.message .text").nth(1);
  await expect(second.locator('.md-p[data-depth="1"]')).toHaveText("quoted");
  await expect(second.locator("pre code")).toHaveText("let x = **y**;");
});

test("a mention picked from the suggestions notifies a person whose tab is hidden, and counts", async ({ browser }) => {
  const room = uniqueRoom("mentions");
  const other = uniqueRoom("elsewhere");
  const ana = await openChat(browser);
  const ben = await openChat(browser, "/", ["notifications"]);
  // Notifications the page shows are recorded, and whether the tab is
  // hidden is the test's to say (headless tabs are never hidden).
  await ben.page.addInitScript(() => {
    const shown: { title: string; body?: string }[] = [];
    (window as any).__shown = shown;
    const Real = window.Notification;
    (window as any).Notification = new Proxy(Real, {
      construct(target, args: [string, NotificationOptions?]) {
        shown.push({ title: args[0], body: args[1]?.body });
        return Reflect.construct(target, args);
      },
      get: (target, key) => Reflect.get(target, key),
    });
    Object.defineProperty(document, "hidden", { configurable: true, get: () => (window as any).__hidden === true });
  });
  await ben.page.reload();
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await joinRoom(ben.page, other);
  const toggle = ben.page.getByRole("button", { name: "Browser notifications" });
  await expect(toggle).toHaveAttribute("aria-pressed", "false");
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await ben.page.evaluate(() => ((window as any).__hidden = true));

  // Ana writes @ and the start of Ben's name: he is offered, and picked by keyboard.
  const box = ana.page.getByLabel("Message", { exact: true });
  await box.pressSequentially(`@${ben.name.slice(0, 7)}`);
  const offered = ana.page.getByRole("listbox", { name: "Members to mention" }).getByRole("option");
  await expect(offered).toHaveText([ben.name]);
  await expect(offered).toHaveAttribute("aria-selected", "true");
  await box.press("Enter");
  await expect(box).toHaveValue(`@${ben.name} `);
  await box.pressSequentially("can you look?");
  await box.press("Enter");

  await expect.poll(() => ben.page.evaluate(() => (window as any).__shown)).toEqual([
    { title: `${ana.name} in #${room}`, body: `@${ben.name} can you look?` },
  ]);
  // Ben is in the other room: the mention counts beside the unread, and in the title.
  await expect(ben.page.getByLabel(`1 mentioning you in #${room}`)).toHaveText("@1");
  await expect(ben.page).toHaveTitle("(1) confab");
  // A message that names nobody does not notify in a room (mentions only).
  await box.fill("just chatting");
  await box.press("Enter");
  await expect(ben.page.getByLabel(`2 unread in #${room}`)).toBeVisible();
  expect(await ben.page.evaluate(() => (window as any).__shown.length)).toBe(1);
  // Opened, the mention is read and highlighted.
  await ben.page.getByRole("button", { name: `#${room}` }).click();
  await expect(messageFrom(ben.page, ana.name, "can you look?")).toHaveClass(/mentioned/);
  await expect(ben.page.getByLabel(`1 mentioning you in #${room}`)).toHaveCount(0);
  await expect(ben.page).toHaveTitle("confab");
});

test("a search finds what the person may read and opens it in its conversation", async ({ browser }) => {
  const room = uniqueRoom("search");
  const secret = uniqueRoom("secret");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  const cy = await openChat(browser);
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await joinRoom(cy.page, secret);
  const word = `quarterly${Date.now().toString(36)}`;
  await send(ana.page, `the **${word}** report is ready`);
  await send(cy.page, `${word} secrets`);
  await postMany(ana.page, room, "filler", 80);

  await ben.page.getByRole("searchbox", { name: "Search messages" }).fill(word.slice(0, 12));
  await ben.page.getByRole("button", { name: "Search", exact: true }).click();
  const results = ben.page.getByRole("region", { name: /^Search:/ });
  await expect(results.getByRole("status")).toHaveText("1 result");
  const result = results.getByRole("button", { name: new RegExp(`#${room}`) });
  await expect(result.locator("mark")).toHaveText(word);
  await expect(result).toContainText(`the ${word} report is ready`);
  await expect(ben.page.getByText(`${word} secrets`)).toHaveCount(0);
  await result.click();
  await expect(results).toHaveCount(0);
  const found = messageFrom(ben.page, ana.name, "report is ready");
  await expect(found).toBeVisible();
  await expect(found).toHaveClass(/focused/);
  await expect(found).toBeInViewport();
});
