import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, messageFrom, openChat, send, uniqueRoom } from "./support/chat";

test.afterEach(closeChats);

test("a deep link opens its room, and back and forward move between rooms", async ({ browser }) => {
  const first = uniqueRoom("deep");
  const second = uniqueRoom("deeper");
  const ben = await openChat(browser);
  await joinRoom(ben.page, first);
  await send(ben.page, "waiting for you");

  // Ana arrives by a link: the room is joined and open, its history shown.
  const ana = await openChat(browser, `/r/${first}`);
  const heading = ana.page.getByRole("heading", { level: 1 });
  await expect(heading).toHaveText(`#${first}`);
  await expect(ana.page.getByRole("button", { name: `#${first}` })).toBeVisible();
  await expect(messageFrom(ana.page, ben.name, "waiting for you")).toBeVisible();

  await joinRoom(ana.page, second);
  await expect(ana.page).toHaveURL(new RegExp(`/r/${second}$`));
  await ana.page.goBack();
  await expect(ana.page).toHaveURL(new RegExp(`/r/${first}$`));
  await expect(heading).toHaveText(`#${first}`);
  await ana.page.goForward();
  await expect(heading).toHaveText(`#${second}`);

  // The sidebar moves the path too; leaving goes to the room still open.
  await ana.page.getByRole("button", { name: `#${first}` }).click();
  await expect(ana.page).toHaveURL(new RegExp(`/r/${first}$`));
  await ana.page.getByRole("button", { name: "Leave room" }).click();
  await expect(ana.page).toHaveURL(new RegExp(`/r/${second}$`));
  await expect(heading).toHaveText(`#${second}`);
});

test("a deep link to an impossible room name says why and opens nothing", async ({ browser }) => {
  const ana = await openChat(browser, "/r/-starts-with-a-dash");
  await expect(ana.page.locator(".notice")).toContainText("must start with a letter or a digit");
  // A join of a valid room goes out and comes back after anything the
  // link could have started: only that room is then listed.
  const valid = uniqueRoom("after-bad-link");
  await joinRoom(ana.page, valid);
  await expect(ana.page.getByRole("navigation").locator(".room-list li")).toHaveText([`#${valid}`]);
});
