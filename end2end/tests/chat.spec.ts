import { expect, test } from "@playwright/test";
import { closeChats, joinRoom, members, messageFrom, messageLog, openChat, send, status, uniqueRoom } from "./support/chat";

test.afterEach(closeChats);

test("two people in one room chat both ways and see each other arrive", async ({ browser }) => {
  const generalRoom = uniqueRoom("general");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, generalRoom);
  await joinRoom(ben.page, generalRoom);

  await expect(messageLog(ana.page)).toContainText(`${ben.name} joined`);
  await expect(members(ana.page)).toContainText(ben.name);
  await expect(members(ben.page)).toContainText(ana.name);

  await send(ana.page, "hello Ben");
  await expect(messageFrom(ben.page, ana.name, "hello Ben")).toBeVisible();
  await expect(messageFrom(ana.page, ana.name, "hello Ben")).toBeVisible();

  await send(ben.page, "hi Ana");
  await expect(messageFrom(ana.page, ben.name, "hi Ana")).toBeVisible();
});

test("shift+enter writes a multi-line message that arrives as one", async ({ browser }) => {
  const linesRoom = uniqueRoom("lines");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, linesRoom);
  await joinRoom(ben.page, linesRoom);
  const box = ana.page.getByLabel("Message", { exact: true });
  await box.fill("first line");
  await box.press("Shift+Enter");
  await box.pressSequentially("second line");
  await box.press("Enter");
  const line = messageLog(ben.page).locator("li.message .text").last();
  await expect(line).toHaveText("first line\nsecond line");
});

test("a direct message reaches only its recipient", async ({ browser }) => {
  const dmRoom = uniqueRoom("dm-room");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  const cy = await openChat(browser);
  for (const person of [ana, ben, cy]) await joinRoom(person.page, dmRoom);

  await ana.page.getByRole("button", { name: `Direct message ${ben.name}` }).click();
  await expect(ana.page.getByRole("heading", { level: 1 })).toHaveText(`Direct messages with ${ben.name}`);
  await send(ana.page, "just between us");
  await expect(messageFrom(ana.page, ana.name, "just between us")).toBeVisible();

  // Ben gets a conversation with Ana in the sidebar, holding the message.
  const conversation = ben.page.getByRole("button", { name: ana.name, exact: true });
  await expect(conversation).toBeVisible();
  await conversation.click();
  await expect(messageFrom(ben.page, ana.name, "just between us")).toBeVisible();

  // Cy sees no conversation and no message. Checked once a room message
  // Ana sends after the direct one has reached Cy: the server delivers
  // one sender's messages in order, so a stray copy would be there by then.
  await ana.page.getByRole("button", { name: `#${dmRoom}` }).click();
  await expect(ana.page.getByRole("heading", { level: 1 })).toHaveText(`#${dmRoom}`);
  await send(ana.page, "for the whole room");
  await expect(messageFrom(ana.page, ana.name, "for the whole room")).toBeVisible();
  await expect(messageFrom(cy.page, ana.name, "for the whole room")).toBeVisible();
  await expect(cy.page.getByRole("navigation").getByText(ana.name)).toHaveCount(0);
  await expect(cy.page.getByText("just between us")).toHaveCount(0);
});

test("leaving a room tells the others and removes it from the sidebar", async ({ browser }) => {
  const leaversRoom = uniqueRoom("leavers");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, leaversRoom);
  await joinRoom(ben.page, leaversRoom);
  await expect(members(ana.page)).toContainText(ben.name);

  await ben.page.getByRole("button", { name: "Leave room" }).click();
  await expect(ben.page.getByRole("button", { name: `#${leaversRoom}` })).toHaveCount(0);
  await expect(messageLog(ana.page)).toContainText(`${ben.name} left`);
  await expect(members(ana.page)).not.toContainText(ben.name);
});

test("chat text is shown literally and never runs as HTML", async ({ browser }) => {
  const xssRoom = uniqueRoom("xss");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, xssRoom);
  await joinRoom(ben.page, xssRoom);
  const attack = "<img src=x onerror=alert(1)>";
  await send(ana.page, attack);
  await expect(messageFrom(ben.page, ana.name, attack)).toBeVisible();
  await expect(messageLog(ben.page).locator("img")).toHaveCount(0);
  await expect(messageLog(ben.page).locator("li.message .text").last()).toHaveText(attack);
  // openChat fails the test on any dialog, so reaching here means no alert ran.
});

test("an invalid room name gets a dismissible notice and nothing else happens", async ({ browser }) => {
  const ana = await openChat(browser);
  await ana.page.getByLabel("Join a room").fill("no spaces please");
  await ana.page.getByRole("button", { name: "Join", exact: true }).click();
  const notice = ana.page.locator(".notice");
  await expect(notice).toContainText("room name may contain only ASCII letters");
  await notice.getByRole("button", { name: "Dismiss" }).click();
  await expect(notice).toHaveCount(0);
  await expect(status(ana.page)).toHaveAttribute("data-status", "connected");
});

test("links are clickable and safe, times are shown, consecutive messages are grouped", async ({ browser }) => {
  const linksRoom = uniqueRoom("links");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, linksRoom);
  await joinRoom(ben.page, linksRoom);
  await send(ana.page, "docs at https://example.com/guide?x=1, not javascript:alert(1)");
  await send(ana.page, "and a second line from me");

  const first = messageFrom(ben.page, ana.name, "docs at");
  const link = first.locator(".text a");
  await expect(link).toHaveCount(1);
  await expect(link).toHaveText("https://example.com/guide?x=1");
  await expect(link).toHaveAttribute("href", "https://example.com/guide?x=1");
  await expect(link).toHaveAttribute("rel", "noopener noreferrer nofollow");
  await expect(link).toHaveAttribute("target", "_blank");
  // Left to right and isolated, whatever the direction of the text around.
  await expect(link).toHaveCSS("direction", "ltr");
  await expect(link).toHaveCSS("unicode-bidi", "isolate");
  // The server's time, as hours and minutes in the reader's locale.
  await expect(first.locator("time")).toHaveText(/\d{1,2}[:.]\d{2}/);
  await expect(first.locator("time")).toHaveAttribute("datetime", /^\d{4}-\d{2}-\d{2}T/);

  const lines = messageLog(ben.page).locator("li.message");
  await expect(lines).toHaveCount(2);
  await expect(lines.nth(0)).not.toHaveClass(/continued/);
  await expect(lines.nth(1)).toHaveClass(/continued/);
  await expect(lines.nth(1).locator(".from")).not.toBeInViewport();

  // A look-alike host (a Cyrillic "а") shows, and leads, as what it is.
  await send(ana.page, "log in at https://\u0430pple.com/login now");
  const spoof = messageFrom(ben.page, ana.name, "log in at").locator(".text a");
  await expect(spoof).toHaveText("https://xn--pple-43d.com/login");
  await expect(spoof).toHaveAttribute("href", "https://xn--pple-43d.com/login");
});

test("unread counts mark rooms and conversations with news until they are opened", async ({ browser }) => {
  const quietRoom = uniqueRoom("quiet");
  const busyRoom = uniqueRoom("busy");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, busyRoom);
  await joinRoom(ana.page, quietRoom); // Ana now looks at the quiet room
  await joinRoom(ben.page, busyRoom);
  await joinRoom(ben.page, quietRoom);

  const busyItem = ana.page.getByRole("navigation").locator("li", { hasText: `#${busyRoom}` });
  await ben.page.getByRole("button", { name: `#${busyRoom}` }).click();
  await send(ben.page, "one");
  await send(ben.page, "two");
  await expect(busyItem.locator(".unread")).toHaveText("2");
  await expect(busyItem.locator(".unread")).toHaveAttribute("aria-label", `2 unread in #${busyRoom}`);
  // Messages in the open room are read as they come.
  await ben.page.getByRole("button", { name: `#${quietRoom}` }).click();
  await send(ben.page, "here");
  await expect(messageFrom(ana.page, ben.name, "here")).toBeVisible();
  const quietItem = ana.page.getByRole("navigation").locator("li", { hasText: `#${quietRoom}` });
  await expect(quietItem.locator(".unread")).toHaveCount(0);

  await ana.page.getByRole("button", { name: `#${busyRoom}` }).click();
  await expect(busyItem.locator(".unread")).toHaveCount(0);
  await expect(messageFrom(ana.page, ben.name, "two")).toBeVisible();

  // A direct message waiting in its own conversation.
  await ben.page.getByRole("button", { name: `Direct message ${ana.name}` }).click();
  await send(ben.page, "psst");
  const dmItem = ana.page.getByRole("navigation").locator("li", { hasText: ben.name });
  await expect(dmItem.locator(".unread")).toHaveText("1");
  await ana.page.getByRole("button", { name: ben.name, exact: true }).click();
  await expect(dmItem.locator(".unread")).toHaveCount(0);
});

test("typing shows to the others in the room, expires by itself, and ends with the message", async ({ browser }) => {
  const typingRoom = uniqueRoom("typing");
  const otherRoom = uniqueRoom("elsewhere");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  const cy = await openChat(browser);
  await joinRoom(ana.page, typingRoom);
  await joinRoom(ben.page, typingRoom);
  await joinRoom(cy.page, otherRoom);

  const box = ana.page.getByLabel("Message", { exact: true });
  await box.pressSequentially("I am writ");
  const typing = ben.page.locator(".typing");
  await expect(typing).toHaveText(`${ana.name} is typing…`);
  await expect(ana.page.locator(".typing")).toHaveText("");
  await expect(cy.page.locator(".typing")).toHaveText("");
  // Nothing more typed: it goes by itself after a few seconds.
  await expect(typing).toHaveText("", { timeout: 10_000 });

  await box.pressSequentially("ing again");
  await expect(typing).toHaveText(`${ana.name} is typing…`);
  await box.press("Enter");
  await expect(messageFrom(ben.page, ana.name, "I am writing again")).toBeVisible();
  await expect(typing).toHaveText("");
});

test("new messages keep you at the bottom, or wait behind a button when you have scrolled up", async ({ browser }) => {
  const scrollRoom = uniqueRoom("scroll");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  await joinRoom(ana.page, scrollRoom);
  await joinRoom(ben.page, scrollRoom);
  for (let n = 1; n <= 40; n++) await send(ben.page, `line ${n}`);
  const line = (n: number) => messageFrom(ana.page, ben.name, `line ${n}`).first();
  await expect(line(40)).toBeInViewport();

  await ana.page.locator(".lines").evaluate((list) => (list.scrollTop = 0));
  await expect(line(1)).toBeInViewport();
  await send(ben.page, "line 41");
  const jump = ana.page.getByRole("button", { name: "New messages" });
  await expect(jump).toBeVisible();
  await expect(line(1)).toBeInViewport();
  await expect(line(41)).not.toBeInViewport();
  await jump.click();
  await expect(line(41)).toBeInViewport();
  await expect(jump).toHaveCount(0);
});

test("scrolling to the top loads older history in place", async ({ browser }) => {
  // Typing 70 messages through the page takes 25 to 28 s on two busy cores.
  test.setTimeout(60_000);
  const longRoom = uniqueRoom("long");
  const ben = await openChat(browser);
  await joinRoom(ben.page, longRoom);
  for (let n = 1; n <= 70; n++) await send(ben.page, `old ${n}`);
  await expect(messageFrom(ben.page, ben.name, "old 70")).toBeVisible();

  // A newcomer gets the latest 50, then scrolls up for the rest.
  const ana = await openChat(browser);
  await joinRoom(ana.page, longRoom);
  const texts = ana.page.locator("li.message .text");
  await expect(texts).toHaveCount(50);
  await expect(texts.first()).toHaveText("old 21");
  await ana.page.locator(".lines").evaluate((list) => (list.scrollTop = 0));
  await expect(texts).toHaveCount(70);
  await expect(texts.first()).toHaveText("old 1");
  // The view stayed on what was at the top before the page came in.
  await expect(messageFrom(ana.page, ben.name, "old 21")).toBeInViewport();
});

test("the lobby lists the rooms with their member counts, live, and joins on a click", async ({ browser }) => {
  const lobbyRoom = uniqueRoom("lobby");
  const ana = await openChat(browser);
  const ben = await openChat(browser);
  const cy = await openChat(browser);
  await joinRoom(ben.page, lobbyRoom);
  const entry = ana.page.getByRole("list", { name: "All rooms" }).getByRole("button", { name: new RegExp(`^${lobbyRoom} \\d+ (person|people)$`) });
  await expect(entry).toHaveAccessibleName(`${lobbyRoom} 1 person`);
  await joinRoom(cy.page, lobbyRoom);
  await expect(entry).toHaveAccessibleName(`${lobbyRoom} 2 people`);
  await entry.click();
  await expect(ana.page.getByRole("heading", { level: 1 })).toHaveText(`#${lobbyRoom}`);
  await expect(entry).toHaveAccessibleName(`${lobbyRoom} 3 people`);
  await cy.page.getByRole("button", { name: "Leave room" }).click();
  await expect(entry).toHaveAccessibleName(`${lobbyRoom} 2 people`);
});
