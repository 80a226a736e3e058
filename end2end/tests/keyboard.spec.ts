import { expect, test, type Locator, type Page } from "@playwright/test";
import { closeChats, joinRoom, members, messageFrom, openChat, status, uniqueRoom } from "./support/chat";

test.afterEach(closeChats);

/**
 * Presses Tab until `target` has the focus (at most `max` times), as a
 * keyboard user would, and checks the focus is visible there.
 */
async function tabTo(page: Page, target: Locator, max = 60) {
  for (let n = 0; n < max; n++) {
    await page.keyboard.press("Tab");
    if (await target.evaluate((element) => element === document.activeElement)) {
      const outline = await target.evaluate((element) => getComputedStyle(element).outlineStyle);
      expect(outline, "the focus is visible").not.toBe("none");
      return;
    }
  }
  throw new Error(`Tab never reached ${target}`);
}

async function expectFocused(target: Locator) {
  await expect.poll(() => target.evaluate((element) => element === document.activeElement)).toBe(true);
}

test("everything can be done with the keyboard alone", async ({ browser }) => {
  const room = uniqueRoom("keys");
  const ben = await openChat(browser);
  await joinRoom(ben.page, room);
  const ana = await openChat(browser);
  const page = ana.page;
  const box = page.getByLabel("Message", { exact: true });

  // Join from the lobby: Tab to the room's entry, Enter; the cursor lands
  // in the composer, Enter sends.
  await tabTo(page, page.getByRole("list", { name: "All rooms" }).getByRole("button", { name: new RegExp(`^${room} \\d+ (person|people)$`) }));
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
  await expectFocused(box);
  await page.keyboard.type("hello from the keyboard");
  await page.keyboard.press("Enter");
  await expect(messageFrom(ben.page, ana.name, "hello from the keyboard")).toBeVisible();

  // The name: Enter opens the editor with the focus in it, Escape closes it
  // and gives the focus back, Enter saves.
  const me = page.getByRole("button", { name: /^Your name/ });
  await tabTo(page, me);
  await page.keyboard.press("Enter");
  const nameInput = page.getByLabel("Display name");
  await expectFocused(nameInput);
  await page.keyboard.press("Escape");
  await expect(nameInput).toHaveCount(0);
  await expectFocused(me);
  await page.keyboard.press("Enter");
  await expectFocused(nameInput);
  await page.keyboard.type("Keyboard Kim");
  await page.keyboard.press("Enter");
  await expect(me).toHaveText("Keyboard Kim");
  await expect(members(ben.page).getByText("Keyboard Kim")).toBeVisible();

  // A direct message from the member list.
  await tabTo(page, members(page).getByRole("button", { name: `Direct message ${ben.name}` }));
  await page.keyboard.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Direct messages with ${ben.name}`);
  await expectFocused(box);
  await page.keyboard.type("just us");
  await page.keyboard.press("Enter");
  await ben.page.getByRole("button", { name: "Keyboard Kim", exact: true }).click();
  await expect(messageFrom(ben.page, "Keyboard Kim", "just us")).toBeVisible();

  // The messages can be scrolled from the keyboard, and a notice dismissed.
  await tabTo(page, page.getByRole("log", { name: "Messages" }));
  await tabTo(page, page.getByLabel("Join a room"));
  await page.keyboard.type("not a room!");
  await page.keyboard.press("Enter");
  const notice = page.locator(".notice");
  await expect(notice).toHaveCount(1);
  await tabTo(page, notice.getByRole("button", { name: "Dismiss" }));
  await page.keyboard.press("Enter");
  await expect(notice).toHaveCount(0);
  await expect(status(page)).toHaveAttribute("data-status", "connected");
});

test("on a phone the rooms and members fold into panels, and nothing is wider than the screen", async ({ browser }) => {
  const room = uniqueRoom("phone");
  const other = uniqueRoom("phone-other");
  const ben = await openChat(browser);
  await joinRoom(ben.page, room);
  await joinRoom(ben.page, other);
  const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, viewport: { width: 360, height: 700 } });
  const page = await context.newPage();
  await page.goto("/");
  await expect(status(page)).toHaveAttribute("data-status", "connected");
  const fitsWidth = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);

  // With nothing open, the rooms are the page.
  const joinBox = page.getByLabel("Join a room");
  await expect(joinBox).toBeVisible();
  expect(await fitsWidth()).toBe(true);
  await joinBox.fill(room);
  await joinBox.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
  await expect(joinBox).toBeHidden();
  expect(await fitsWidth()).toBe(true);

  // The rooms panel: opens over the conversation with the focus in it;
  // Escape closes it and the focus goes back to its button.
  const roomsToggle = page.getByRole("button", { name: /^Rooms/ });
  await roomsToggle.click();
  await expect(roomsToggle).toHaveAttribute("aria-expanded", "true");
  await expectFocused(joinBox);
  await page.keyboard.press("Escape");
  await expect(joinBox).toBeHidden();
  await expect(roomsToggle).toHaveAttribute("aria-expanded", "false");
  await expectFocused(roomsToggle);

  // Joining a second room from the panel closes it; news in the first shows
  // on the panel's button.
  await roomsToggle.click();
  await joinBox.fill(other);
  await joinBox.press("Enter");
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${other}`);
  await ben.page.getByRole("button", { name: `#${room}` }).click();
  await ben.page.getByLabel("Message", { exact: true }).fill("news for the phone");
  await ben.page.getByLabel("Message", { exact: true }).press("Enter");
  await expect(roomsToggle).toHaveAccessibleName("Rooms 1 unread");
  await roomsToggle.click();
  await page.getByRole("button", { name: `#${room}` }).click();
  await expect(page.getByText("news for the phone")).toBeVisible();
  await expect(roomsToggle).toHaveAccessibleName("Rooms");

  // The members panel: a close button inside it (no Escape key on a phone),
  // and a direct message from it.
  const membersToggle = page.getByRole("button", { name: /^Members/ });
  await expect(membersToggle).toHaveText("Members (2)");
  await membersToggle.click();
  await expect(members(page)).toBeVisible();
  await members(page).getByRole("button", { name: "Close members" }).click();
  await expect(members(page)).toBeHidden();
  await membersToggle.click();
  await members(page).getByRole("button", { name: `Direct message ${ben.name}` }).click();
  await expect(page.getByRole("heading", { level: 1 })).toHaveText(`Direct messages with ${ben.name}`);
  await expect(members(page)).toBeHidden();
  expect(await fitsWidth()).toBe(true);
  await context.close();
});
