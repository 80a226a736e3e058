import { expect, test, type Page } from "@playwright/test";
import { closeChats, joinRoom, messageFrom, openChat, send, setName, status, uniqueRoom } from "./support/chat";

// Private rooms in the browser: an owner makes a room private and invites by
// link; the link lets a second person in, to the room and its history; a
// revoked link says so and lets nobody in.

test.afterEach(closeChats);

/** The session token this browser keeps (what the chat connects with). */
async function tokenOf(page: Page): Promise<string> {
  const token = await page.evaluate(() => JSON.parse(localStorage.getItem("confab.session") ?? "{}").token);
  expect(typeof token).toBe("string");
  return token;
}

test("an invite link lets a second person into a private room; a revoked one does not", async ({ browser }) => {
  const room = uniqueRoom("private");
  const ana = await openChat(browser);
  await setName(ana.page, "Ana Owner");
  await joinRoom(ana.page, room);
  await send(ana.page, "for members only");
  await expect(ana.page.locator('li.message[data-delivery="sent"]')).toHaveCount(1);
  const headers = { Authorization: `Bearer ${await tokenOf(ana.page)}` };
  const made = await ana.page.request.patch(`/api/rooms/${room}`, { headers, data: { private: true } });
  expect(made.status()).toBe(200);
  const created = await ana.page.request.post(`/api/rooms/${room}/invites`, { headers, data: { max_uses: 5 } });
  expect(created.status()).toBe(201);
  const invite = await created.json();
  expect(invite.url).toBe(`/i/${invite.code}`);

  // Without the link, Ben's join is refused.
  const ben = await openChat(browser);
  await ben.page.getByLabel("Join a room").fill(room);
  await ben.page.getByRole("button", { name: "Join", exact: true }).click();
  await expect(ben.page.locator(".notice")).toContainText("private");
  // With it, he is in the room and reads its history.
  await ben.page.goto(invite.url);
  await expect(status(ben.page)).toHaveAttribute("data-status", "connected");
  await expect(ben.page).toHaveURL(new RegExp(`/r/${room}$`));
  await expect(ben.page.getByRole("heading", { level: 1 })).toHaveText(`#${room}`);
  await expect(messageFrom(ben.page, "Ana Owner", "for members only")).toBeVisible();

  // Revoked: Cy's visit to the link is told why, and lands on the chat.
  const revoked = await ana.page.request.delete(`/api/invites/${invite.code}`, { headers });
  expect(revoked.status()).toBe(204);
  const cy = await openChat(browser, invite.url);
  await expect(cy.page.locator(".notice")).toContainText("this invite was revoked");
  await expect(cy.page).toHaveURL(/\/$/);
  await expect(cy.page.getByRole("button", { name: `#${room}` })).toHaveCount(0);
});
