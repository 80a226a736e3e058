import { expect, test, type Browser, type Page } from "@playwright/test";
import { seriousViolations } from "./support/axe";
import { joinRoom, messageFrom, messageLog, openChat, postMany, send, setName, uniqueRoom, type Person } from "./support/chat";

// The main screens at desktop and phone sizes, light and dark: each is
// checked by axe-core (no serious or critical violation) and saved as a
// screenshot in end2end/screenshots/ for a person to look at.

const sizes = [
  { size: "desktop", viewport: { width: 1280, height: 800 } },
  { size: "mobile", viewport: { width: 375, height: 740 } },
] as const;
const schemes = ["light", "dark"] as const;

async function shoot(page: Page, name: string) {
  await page.screenshot({ path: `screenshots/${name}.png` });
}

let busyRoom: string;
let quietRoom: string;
let ana: Person;
let ben: Person;

test.beforeAll(async ({ browser }) => {
  busyRoom = uniqueRoom("design");
  quietRoom = uniqueRoom("quiet");
  ana = await openChat(browser);
  ben = await openChat(browser);
  await setName(ana.page, "Ana Lima");
  await setName(ben.page, "Ben Okafor");
  await joinRoom(ben.page, busyRoom);
  await postMany(ben.page, busyRoom, "Earlier message", 60);
  await joinRoom(ana.page, busyRoom);
  await joinRoom(ana.page, quietRoom);
  await ana.page.getByRole("button", { name: `#${busyRoom}` }).click();
  await send(ana.page, "Morning! Has anyone looked at the release notes?");
  await send(ben.page, "Yes, they are here: https://example.com/releases/0.4");
  await send(ben.page, "Two things stood out:\n- the new lobby\n- reconnects are seamless now");
  await send(ana.page, "Great, I will read them after lunch.");
  await send(ben.page, "A long line to see how wrapping behaves when someone pastes a whole paragraph of text into the room without any line breaks at all, which happens more than one would think.");
  // What conversations grow: a reply with formatting, reactions, an edit,
  // a deletion, a quote and code.
  const act = async (person: Person, text: string, action: string) => {
    const line = messageFrom(person.page, "", text);
    await line.hover();
    await line.getByRole("button", { name: action, exact: true }).click();
    return line;
  };
  await act(ana, "Two things stood out", "Reply");
  await send(ana.page, "**Agreed**, the new lobby is _much_ nicer. See `make dev` and ~~the old notes~~ [the guide](https://example.com/guide).");
  for (const [person, emoji] of [[ben, "👍"], [ana, "🎉"], [ben, "🎉"]] as const) {
    const line = await act(person, "Has anyone looked at the release notes?", "React");
    await line.getByRole("button", { name: `React with ${emoji}` }).click();
  }
  await send(ana.page, "I will read them after lnch.");
  await act(ana, "I will read them after lnch.", "Edit");
  const box = ana.page.getByLabel("Message", { exact: true });
  await box.fill("I will read them after lunch.");
  await box.press("Enter");
  await send(ben.page, "oops, wrong room");
  const oops = await act(ben, "oops, wrong room", "Delete");
  await oops.getByRole("button", { name: "Yes, delete" }).click();
  await send(ben.page, "> reconnects are seamless now\nConfirmed on my phone:\n```\ncargo leptos watch\n```");
});

for (const { size, viewport } of sizes) {
  for (const scheme of schemes) {
    test(`lobby and busy room, ${size}, ${scheme}: accessible, and saved as screenshots`, async ({ browser }) => {
      // Many screens, each checked with every axe rule: longer than most tests.
      test.setTimeout(90_000);
      const context = await browser.newContext({ baseURL: process.env.E2E_BASE_URL, viewport, colorScheme: scheme });
      const page = await context.newPage();
      await page.goto("/");
      await expect(page.getByRole("status")).toHaveAttribute("data-status", "connected");
      await expect(page.getByRole("list", { name: "All rooms" }).getByRole("button", { name: new RegExp(`^${busyRoom} \\d+ (person|people)$`) })).toBeVisible();
      await shoot(page, `lobby-${size}-${scheme}`);
      expect(await seriousViolations(page), "the lobby").toEqual([]);

      // The busy room, with someone typing and news in another room.
      await page.getByRole("list", { name: "All rooms" }).getByRole("button", { name: new RegExp(`^${busyRoom} \\d+ (person|people)$`) }).click();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${busyRoom}`);
      // On a phone, the join form and the rooms are in the rooms panel.
      const openRooms = async () => {
        if (size === "mobile") await page.getByRole("button", { name: /^Rooms/ }).click();
      };
      await openRooms();
      await page.getByLabel("Join a room").fill(quietRoom);
      await page.getByLabel("Join a room").press("Enter");
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${quietRoom}`);
      await openRooms();
      await page.getByRole("button", { name: `#${busyRoom}` }).click();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText(`#${busyRoom}`);
      await expect(messageLog(page).getByText("A long line to see")).toBeVisible();
      await send(ana.page, `Welcome to the ${size} ${scheme} visitor!`);
      await ana.page.getByRole("button", { name: `#${quietRoom}` }).click();
      await send(ana.page, "Psst, over here.");
      // Typing is sent at most every 3 s: Ben keeps typing until it shows.
      const box = ben.page.getByLabel("Message", { exact: true });
      await expect(async () => {
        await box.pressSequentially("typing ");
        await expect(page.getByText("Ben Okafor is typing…")).toBeVisible({ timeout: 1_000 });
      }).toPass();
      await ana.page.getByRole("button", { name: `#${busyRoom}` }).click();
      await expect(messageLog(page).locator(".reaction").first()).toBeVisible();
      await shoot(page, `room-${size}-${scheme}`);
      expect(await seriousViolations(page), "the busy room").toEqual([]);
      await ben.page.getByLabel("Message", { exact: true }).fill("");

      // A message's action bar with its React menu open, and the composer
      // answering it with members offered after @.
      const line = messageLog(page).locator("li.message").filter({ hasText: "Has anyone looked" });
      await line.hover();
      await line.getByRole("button", { name: "React", exact: true }).click();
      await expect(line.getByRole("button", { name: "React with 👍" })).toBeVisible();
      await line.getByRole("button", { name: "Reply", exact: true }).click();
      const composer = page.getByLabel("Message", { exact: true });
      await composer.pressSequentially("@Ben");
      await expect(page.getByRole("listbox", { name: "Members to mention" })).toBeVisible();
      await shoot(page, `actions-${size}-${scheme}`);
      expect(await seriousViolations(page), "the action bar, a reply and mention suggestions").toEqual([]);
      await composer.press("Escape");
      await composer.press("Escape");
      await composer.fill("");

      // A search and its results.
      await openRooms();
      await page.getByRole("searchbox", { name: "Search messages" }).fill("release");
      await page.getByRole("searchbox", { name: "Search messages" }).press("Enter");
      const results = page.getByRole("region", { name: /^Search:/ });
      await expect(results.locator("mark").first()).toBeVisible();
      await shoot(page, `search-${size}-${scheme}`);
      expect(await seriousViolations(page), "search results").toEqual([]);
      await results.getByRole("button", { name: "Close search" }).click();
      await expect(results).toHaveCount(0);

      if (size === "mobile") {
        await page.getByRole("button", { name: /^Members/ }).click();
        await expect(page.getByRole("complementary", { name: "Members" })).toBeVisible();
        await shoot(page, `members-${size}-${scheme}`);
        expect(await seriousViolations(page), "the members panel").toEqual([]);
        await page.keyboard.press("Escape");
        await expect(page.getByRole("complementary", { name: "Members" })).not.toBeInViewport();

        // The rooms panel open, with rooms, the lobby and the join form.
        await openRooms();
        await expect(page.getByLabel("Join a room")).toBeVisible();
        expect(await seriousViolations(page), "the rooms panel").toEqual([]);
        await page.keyboard.press("Escape");
        await expect(page.getByLabel("Join a room")).not.toBeInViewport();
      }

      // The name editor open.
      await page.locator(".me").click();
      await expect(page.getByLabel("Display name")).toBeFocused();
      expect(await seriousViolations(page), "the name editor").toEqual([]);
      await page.getByLabel("Display name").press("Escape");
      await expect(page.getByLabel("Display name")).toHaveCount(0);

      // A notice on screen.
      await openRooms();
      await page.getByLabel("Join a room").fill("no spaces please");
      await page.getByLabel("Join a room").press("Enter");
      if (size === "mobile") await page.keyboard.press("Escape");
      const notice = page.locator(".notice");
      await expect(notice).toContainText("room name may contain only ASCII letters");
      expect(await seriousViolations(page), "a notice").toEqual([]);
      await notice.getByRole("button", { name: "Dismiss" }).click();
      await expect(notice).toHaveCount(0);

      // A direct conversation with a message in it.
      if (size === "mobile") await page.getByRole("button", { name: /^Members/ }).click();
      await page.getByRole("button", { name: "Direct message Ana Lima" }).click();
      await expect(page.getByRole("heading", { level: 1 })).toHaveText("Direct messages with Ana Lima");
      await send(page, `Hello Ana, from the ${size} ${scheme} visitor`);
      await expect(page.locator('li.message[data-delivery="sent"]')).toHaveCount(1);
      await shoot(page, `direct-${size}-${scheme}`);
      expect(await seriousViolations(page), "a direct conversation").toEqual([]);
      await context.close();
    });
  }
}
