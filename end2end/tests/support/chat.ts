import { expect, type Browser, type BrowserContext, type Locator, type Page } from "@playwright/test";

/** One person in their own browser context (own cookies, own socket). */
export interface Person {
  page: Page;
  /** The name the app shows for them, e.g. "guest-4f3a". */
  name: string;
}

/** The contexts `openChat` opened and `closeChats` has not closed yet. */
const opened: BrowserContext[] = [];

/**
 * Closes every person's context: each keeps a page rendering and a socket
 * open, and a run that kept them all went three times slower by its end.
 * Files whose people live for one test call it after each.
 */
export async function closeChats() {
  await Promise.all(opened.splice(0).map((context) => context.close()));
}

/** Opens the app in a new browser context, at `url` (default: the shared server). */
export async function openChat(browser: Browser, url = "/", permissions: string[] = []): Promise<Person> {
  const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, permissions });
  opened.push(context);
  const page = await context.newPage();
  page.on("dialog", (dialog) => {
    throw new Error(`unexpected dialog: ${dialog.message()}`);
  });
  await page.goto(url);
  await expect(status(page)).toHaveAttribute("data-status", "connected");
  const name = (await page.locator(".me").textContent())?.trim() ?? "";
  expect(name).toMatch(/^guest-[0-9a-f]{4}$/);
  return { page, name };
}

/** Opens a page of the app that is not the chat (an account page) in a new browser context. */
export async function openPage(browser: Browser, url: string): Promise<Page> {
  const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL });
  opened.push(context);
  const page = await context.newPage();
  await page.goto(url);
  return page;
}

export function status(page: Page): Locator {
  return page.getByRole("status");
}

export function messageLog(page: Page): Locator {
  return page.getByRole("log", { name: "Messages" });
}

export function members(page: Page): Locator {
  return page.getByRole("complementary", { name: "Members" });
}

export async function joinRoom(page: Page, room: string) {
  await page.getByLabel("Join a room").fill(room);
  await page.getByRole("button", { name: "Join", exact: true }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
  await expect(page.getByRole("button", { name: `#${room}` })).toBeVisible();
}

export async function send(page: Page, text: string) {
  const box = page.getByLabel("Message", { exact: true });
  await box.fill(text);
  await box.press("Enter");
  await expect(box).toHaveValue("");
}

/** The message line from `who` with exactly `text`. */
export function messageFrom(page: Page, who: string, text: string): Locator {
  return messageLog(page)
    .locator("li.message")
    .filter({ has: page.locator(".from", { hasText: who }) })
    .filter({ has: page.locator(".text", { hasText: text }) });
}

/** Sets the user's display name through the header's name button. */
export async function setName(page: Page, name: string) {
  await page.locator(".me").click();
  const input = page.getByLabel("Display name");
  await input.fill(name);
  await input.press("Enter");
  await expect(page.locator(".me")).toHaveText(name);
}

/** The lines of the open conversation with exactly `text`. */
export function linesWithText(page: Page, text: string): Locator {
  return messageLog(page).locator("li.message .text").getByText(text, { exact: true });
}

/**
 * A room name of this test's own: history now outlives a test, so a name
 * reused (by `--repeat-each`, or another test) would bring old messages.
 */
export function uniqueRoom(base: string): string {
  return `${base}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/**
 * Posts `count` messages ("<prefix> 1", "<prefix> 2", …) to `room` from a
 * connection of its own, opened in `page` with only the article's protocol,
 * and waits until every one is stored and echoed back.
 */
export async function postMany(page: Page, room: string, prefix: string, count: number) {
  await page.evaluate(
    async ({ room, prefix, count }) => {
      const ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws");
      const echoed = (n: number) => new Promise<void>((done, fail) => {
        let seen = 0;
        ws.onmessage = (event) => {
          const message = JSON.parse(event.data);
          if (message.type === "error") fail(new Error(message.message));
          if (message.type === "joined" || (message.type === "room_message" && ++seen === n)) done();
        };
      });
      await new Promise((open) => (ws.onopen = open));
      const joined = echoed(0);
      ws.send(JSON.stringify({ type: "join_room", room }));
      await joined;
      // In batches, so the echoes never pile up unread.
      for (let from = 1; from <= count; from += 500) {
        const to = Math.min(count, from + 499);
        const batch = echoed(to - from + 1);
        for (let n = from; n <= to; n++) {
          ws.send(JSON.stringify({ type: "room_message", room, content: `${prefix} ${n}` }));
        }
        await batch;
      }
      ws.close();
    },
    { room, prefix, count },
  );
}
