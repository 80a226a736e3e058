import { expect, test, type Page } from "@playwright/test";
import { seriousViolations } from "./support/axe";
import { closeChats, joinRoom, members, messageFrom, openChat, send, setName, status, uniqueRoom } from "./support/chat";
import { startServer } from "./support/server";

// Running a room from the browser: its owner sets the topic, makes it
// private, makes an invite link and a moderator in the settings panel, and
// reads the audit log; a moderator deletes a member's message, mutes them
// (the member sees a banner and cannot post), lifts the mute, and bans them
// (put out, and kept out). A user banned from the whole server is told why
// and the page stops reconnecting. Each screen is checked by axe.

test.afterEach(closeChats);

/** Opens the room settings panel. */
async function openSettings(page: Page, room: string) {
  await page.getByRole("button", { name: "Room settings" }).click();
  const panel = page.getByRole("region", { name: `Settings of #${room}` });
  await expect(panel.getByRole("heading", { name: `Settings of #${room}` })).toBeFocused();
  return panel;
}

test("an owner sets the topic, privacy, an invite link and roles in the settings panel, and reads the audit log", async ({ browser }) => {
  const room = uniqueRoom("run");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await setName(ana.page, "Ana Owner");
  await setName(ben.page, "Ben Helper");
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  // Only those who run a room see its settings.
  await expect(ana.page.getByRole("button", { name: "Room settings" })).toBeVisible();
  await expect(ben.page.getByRole("button", { name: "Room settings" })).toHaveCount(0);

  const panel = await openSettings(ana.page, room);
  await panel.getByLabel("Topic").fill("Plans for the weekend");
  await panel.getByRole("button", { name: "Save topic" }).click();
  await expect(panel.getByRole("status")).toHaveText("Topic saved.");
  await expect(ben.page.locator(".topic")).toHaveText("Plans for the weekend");

  // Ben becomes a moderator: his page offers him the settings.
  await panel.getByLabel("Give").selectOption({ label: "Ben Helper" });
  await panel.getByLabel("the role").selectOption("moderator");
  await panel.getByRole("button", { name: "Give role" }).click();
  await expect(panel.locator(".staff li").filter({ hasText: "Ben Helper" })).toContainText("moderator");
  await expect(ben.page.getByRole("button", { name: "Room settings" })).toBeVisible();

  // Private, with an invite link for one person.
  await panel.getByLabel(/^Private/).check();
  await expect(panel.getByRole("status")).toContainText("The room is private");
  await panel.getByLabel("Uses").selectOption("1");
  await panel.getByRole("button", { name: "Make an invite link" }).click();
  const invite = panel.locator(".invites li").first();
  await expect(invite).toContainText("Used 0 of 1 times");
  const link = await invite.getByRole("textbox").inputValue();
  expect(link).toMatch(/\/i\/[0-9a-f]{32}$/);

  // Without the link, a newcomer is refused; with it, let in.
  const cy = await openChat(browser);
  await cy.page.getByLabel("Join a room").fill(room);
  await cy.page.getByRole("button", { name: "Join", exact: true }).click();
  await expect(cy.page.locator(".notice")).toContainText("private");
  await cy.page.goto(link);
  await expect(cy.page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
  await expect(cy.page.locator(".topic")).toHaveText("Plans for the weekend");

  // The role taken away again: Ben's page no longer offers the settings.
  await panel.getByRole("button", { name: "Take the role of Ben Helper away" }).click();
  await expect(panel.locator(".staff li").filter({ hasText: "Ben Helper" })).toHaveCount(0);
  await expect(ben.page.getByRole("button", { name: "Room settings" })).toHaveCount(0);

  // The audit log, read when the panel opens, has both role changes.
  await panel.getByRole("button", { name: "Back to the conversation" }).click();
  await expect(ana.page.getByRole("button", { name: "Room settings" })).toBeFocused();
  const again = await openSettings(ana.page, room);
  const audit = again.locator(".audit li");
  await expect(audit.filter({ hasText: "Ana Owner made Ben Helper moderator" })).toHaveCount(1);
  await expect(audit.filter({ hasText: "Ana Owner took the role of Ben Helper away" })).toHaveCount(1);
  // Escape closes it too.
  await ana.page.keyboard.press("Escape");
  await expect(again).toHaveCount(0);
});

test("a moderator deletes a member's message, mutes them, lifts it, and bans them", async ({ browser }) => {
  const room = uniqueRoom("calm");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await setName(ana.page, "Ana Mod");
  await setName(ben.page, "Ben Loud");
  await joinRoom(ana.page, room);
  await joinRoom(ben.page, room);
  await send(ben.page, "buy cheap watches");

  // Deleted from the message's own menu, for everyone; Ben is told.
  const spam = messageFrom(ana.page, "Ben Loud", "buy cheap watches");
  await spam.hover();
  await spam.getByRole("button", { name: "Delete", exact: true }).click();
  await spam.getByRole("button", { name: "Yes, delete" }).click();
  await expect(ben.page.locator(".text.deleted")).toHaveText("Message deleted");
  await expect(ben.page.locator(".notice")).toContainText("a moderator deleted your message");
  // Ben, a member, is offered no Delete on Ana's messages.
  await send(ana.page, "please keep it on topic");
  const answer = messageFrom(ben.page, "Ana Mod", "please keep it on topic");
  await answer.hover();
  await expect(answer.getByRole("button", { name: "Reply", exact: true })).toBeVisible();
  await expect(answer.getByRole("button", { name: "Delete", exact: true })).toHaveCount(0);
  await expect(members(ben.page).getByRole("button", { name: /^Moderate/ })).toHaveCount(0);

  // Muted for 10 minutes, with a reason: a banner, and posts refused.
  const moderate = members(ana.page).getByRole("button", { name: "Moderate Ben Loud" });
  const form = members(ana.page).getByRole("form", { name: "Moderate Ben Loud" });
  const said = ana.page.locator(".notice").last();
  await moderate.click();
  await form.getByLabel("Action").selectOption("mute");
  await form.getByLabel("For").selectOption({ label: "10 minutes" });
  await form.getByLabel(/^Reason/).fill("cool off");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(said).toContainText("Muted Ben Loud.");
  // Done, the form closes and focus is back on its button.
  await expect(form).toHaveCount(0);
  await expect(moderate).toBeFocused();
  const banner = ben.page.locator(".muted-banner");
  await expect(banner).toContainText("You are muted in this room until");
  await send(ben.page, "why?");
  await expect(ben.page.locator('li.message[data-delivery="failed"]')).toHaveCount(1);
  await expect(ben.page.locator(".notice").last()).toContainText("cool off");

  // A reload does not hide it: the server says so again at the join.
  await ben.page.reload();
  await expect(banner).toContainText("You are muted in this room until");

  // Lifted: the banner goes.
  await moderate.click();
  await form.getByLabel("Action").selectOption("unmute");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(said).toContainText("Lifted the mute of Ben Loud.");
  await expect(banner).toHaveCount(0);

  // Banned for an hour: put out of the room, and kept out.
  await moderate.click();
  await form.getByLabel("Action").selectOption("ban");
  await form.getByLabel("For").selectOption({ label: "1 hour" });
  await form.getByLabel(/^Reason/).fill("enough");
  await form.getByRole("button", { name: "Apply" }).click();
  await expect(said).toContainText("Banned Ben Loud.");
  await expect(moderate).toHaveCount(0);
  await expect(ben.page.locator(".notice").last()).toContainText("banned you");
  await expect(ben.page.getByRole("button", { name: `#${room}` })).toHaveCount(0);
  await ben.page.getByLabel("Join a room").fill(room);
  await ben.page.getByRole("button", { name: "Join", exact: true }).click();
  await expect(ben.page.locator(".notice").last()).toContainText("enough");
  await expect(ben.page.getByRole("button", { name: `#${room}` })).toHaveCount(0);

  // The audit log says who did what, and a ban can be lifted from it.
  const panel = await openSettings(ana.page, room);
  const audit = panel.locator(".audit li");
  const ban = audit.filter({ hasText: "Ana Mod banned Ben Loud until" });
  await expect(ban).toHaveCount(1);
  await expect(ban).toContainText(": enough");
  await expect(audit.filter({ hasText: "Ana Mod muted Ben Loud until" })).toHaveCount(1);
  await expect(audit.filter({ hasText: "Ana Mod deleted message 1 by Ben Loud" })).toHaveCount(1);
  await ban.getByRole("button", { name: "Lift ban" }).click();
  await expect(panel.getByRole("status")).toHaveText("Ban lifted.");
  await joinRoom(ben.page, room);
});

test("a user banned from the server is told why, and the page stops reconnecting", async ({ browser }) => {
  const key = "k".repeat(40);
  const server = await startServer({ env: { CONFAB_API_KEYS: key } });
  try {
    const room = uniqueRoom("out");
    const ben = await openChat(browser, server.url);
    let sockets = 0;
    ben.page.on("websocket", () => sockets++);
    await joinRoom(ben.page, room);
    const listed = await ben.page.request.get(`${server.url}/api/rooms/${room}/members`, {
      headers: { Authorization: `Bearer ${key}` },
    });
    expect(listed.status()).toBe(200);
    const [{ user }] = (await listed.json()).members;
    const banned = await ben.page.request.post(`${server.url}/api/moderation`, {
      headers: { Authorization: `Bearer ${key}` },
      data: { action: "ban", user, seconds: 3600, reason: "spam everywhere" },
    });
    expect(banned.status()).toBe(204);
    const banner = ben.page.locator(".banner.banned");
    await expect(banner).toContainText("You cannot chat here: an admin banned you from this server");
    await expect(banner).toContainText("spam everywhere");
    await expect(status(ben.page)).toHaveAttribute("data-status", "disconnected");
    // The first reconnect would come within a second: none does.
    await ben.page.waitForTimeout(2_000);
    expect(sockets).toBe(0);
    await expect(ben.page.locator(".banner").filter({ hasText: "Reconnecting" })).toHaveCount(0);
  } finally {
    await server.stop();
  }
});

for (const { size, viewport } of [
  { size: "desktop", viewport: { width: 1280, height: 800 } },
  { size: "mobile", viewport: { width: 375, height: 740 } },
] as const) {
  for (const scheme of ["light", "dark"] as const) {
    test(`the settings panel, the moderation form and the muted banner, ${size}, ${scheme}: accessible`, async ({ browser }) => {
      test.setTimeout(60_000);
      const room = uniqueRoom("look");
      const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, viewport, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto("/");
      await expect(status(page)).toHaveAttribute("data-status", "connected");
      await setName(page, "Ana Lima");
      // With no conversation open, a phone shows the rooms panel.
      await page.getByLabel("Join a room").fill(room);
      await page.getByRole("button", { name: "Join", exact: true }).click();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
      const ben = await openChat(browser);
      await setName(ben.page, "Ben Okafor");
      await joinRoom(ben.page, room);
      await send(ben.page, "Hello there");

      const panel = await openSettings(page, room);
      await panel.getByLabel("Topic").fill("Design reviews, Tuesdays");
      await panel.getByRole("button", { name: "Save topic" }).click();
      await expect(panel.getByRole("status")).toHaveText("Topic saved.");
      await panel.getByRole("button", { name: "Make an invite link" }).click();
      await expect(panel.locator(".invites li")).toHaveCount(1);
      await expect(panel.locator(".staff li")).toHaveCount(1);
      await page.screenshot({ path: `screenshots/settings-${size}-${scheme}.png` });
      expect(await seriousViolations(page), "the settings panel").toEqual([]);
      await panel.getByRole("button", { name: "Back to the conversation" }).click();

      if (size === "mobile") await page.getByRole("button", { name: /^Members/ }).click();
      await members(page).getByRole("button", { name: "Moderate Ben Okafor" }).click();
      const form = members(page).getByRole("form", { name: "Moderate Ben Okafor" });
      await form.getByLabel(/^Reason/).fill("a break");
      await page.screenshot({ path: `screenshots/moderate-${size}-${scheme}.png` });
      expect(await seriousViolations(page), "the moderation form").toEqual([]);
      await form.getByRole("button", { name: "Apply" }).click();
      await expect(page.locator(".notice").last()).toContainText("Muted Ben Okafor.");
      await expect(ben.page.locator(".muted-banner")).toBeVisible();
      expect(await seriousViolations(ben.page), "the muted banner").toEqual([]);
      if (size === "mobile") await page.keyboard.press("Escape");

      // The audit log with an entry that can be lifted.
      const again = await openSettings(page, room);
      await expect(again.getByRole("button", { name: "Lift mute" })).toBeVisible();
      expect(await seriousViolations(page), "the audit log").toEqual([]);
      await context.close();
    });
  }
}
