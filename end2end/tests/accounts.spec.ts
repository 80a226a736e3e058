import { expect, test, type Browser, type Page } from "@playwright/test";
import { seriousViolations } from "./support/axe";
import { closeChats, joinRoom, messageFrom, openChat, openPage, send, setName, status, uniqueRoom } from "./support/chat";

// Accounts in the browser: a guest signs up and keeps everything; a second
// browser signs in as the same person and reads the same history; the
// account page lists the sessions and signs one out, which turns that
// browser back into a guest. The account pages pass axe at phone size, in
// light and dark.

test.afterEach(closeChats);

/** A username of this run's own (accounts outlive a test). */
function uniqueUser(base: string): string {
  return `${base}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

async function fillCredentials(page: Page, username: string, password: string) {
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
}

test("a guest signs up keeping their chat, and signs in on a second browser as the same person", async ({ browser }) => {
  const room = uniqueRoom("accounts");
  const username = uniqueUser("ana");
  const ana = await openChat(browser);
  await setName(ana.page, "Ana Account");
  await joinRoom(ana.page, room);
  await send(ana.page, "said as a guest");
  await expect(ana.page.locator('li.message[data-delivery="sent"]')).toHaveCount(1);

  await ana.page.getByRole("link", { name: "Sign in" }).click();
  await ana.page.getByRole("link", { name: "No account yet? Create one" }).click();
  await expect(ana.page.getByRole("heading", { level: 1 })).toHaveText("Create an account");
  await fillCredentials(ana.page, username, "short");
  await ana.page.getByRole("button", { name: "Create account" }).click();
  // The browser refuses a password under 8 characters before sending it.
  await expect(ana.page.getByRole("heading", { level: 1 })).toHaveText("Create an account");
  await fillCredentials(ana.page, username, "a long password");
  await ana.page.getByRole("button", { name: "Create account" }).click();

  // Back in the chat, the same person, now with an account.
  await expect(status(ana.page)).toHaveAttribute("data-status", "connected");
  await expect(ana.page.getByRole("link", { name: `Account: ${username}` })).toBeVisible();
  await expect(ana.page.locator(".me")).toHaveText("Ana Account");
  await ana.page.getByRole("button", { name: `#${room}` }).click();
  await expect(messageFrom(ana.page, "Ana Account", "said as a guest")).toBeVisible();

  // The same username again, in capitals: taken, said in words.
  const other = await openPage(browser, "/sign-up");
  await fillCredentials(other, username.toUpperCase(), "another password");
  await other.getByRole("button", { name: "Create account" }).click();
  await expect(other.getByRole("alert")).toHaveText("that username is taken");

  // A second browser signs in (a wrong password first) as Ana.
  const phone = { page: await openPage(browser, "/sign-in") };
  await fillCredentials(phone.page, username, "a wrong password");
  await phone.page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(phone.page.getByRole("alert")).toHaveText("wrong username or password");
  await fillCredentials(phone.page, username, "a long password");
  await phone.page.getByRole("button", { name: "Sign in", exact: true }).click();
  await expect(status(phone.page)).toHaveAttribute("data-status", "connected");
  await expect(phone.page.locator(".me")).toHaveText("Ana Account");
  // Ana owns the room (she was its first): it is hers on every device.
  await expect(phone.page.getByRole("button", { name: `#${room}` })).toBeVisible();
  await joinRoom(phone.page, room);
  await expect(messageFrom(phone.page, "Ana Account", "said as a guest")).toBeVisible();

  // Ana's first browser lists both sessions and signs the phone out.
  await ana.page.getByRole("link", { name: `Account: ${username}` }).click();
  const sessions = ana.page.getByRole("list").filter({ has: ana.page.getByRole("listitem") });
  await expect(sessions.getByRole("listitem")).toHaveCount(2);
  await expect(sessions.getByText("This device").filter({ visible: true })).toHaveCount(1);
  await sessions.getByRole("button", { name: "Sign out" }).click();
  await expect(ana.page.getByRole("status")).toHaveText("Signed out of that session.");
  await expect(sessions.getByRole("listitem")).toHaveCount(1);
  // The phone is a guest again, told why.
  await expect(phone.page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(phone.page.locator(".notice")).toContainText("signed out");
  await expect(phone.page.locator(".me")).toHaveText(/^guest-[0-9a-f]{4}$/);

  // And signs this one out: a new guest.
  await ana.page.getByRole("button", { name: "Sign out", exact: true }).last().click();
  await expect(status(ana.page)).toHaveAttribute("data-status", "connected");
  await expect(ana.page.getByRole("link", { name: "Sign in" })).toBeVisible();
  await expect(ana.page.locator(".me")).toHaveText(/^guest-[0-9a-f]{4}$/);
});

async function accountScreen(browser: Browser, scheme: "light" | "dark", path: string): Promise<Page> {
  const context = await browser.newContext({
    baseURL: process.env.E2E_BASE_URL,
    viewport: { width: 375, height: 740 },
    colorScheme: scheme,
  });
  const page = await context.newPage();
  await page.goto(path);
  return page;
}

for (const scheme of ["light", "dark"] as const) {
  test(`the account pages at 375 px, ${scheme}: accessible, and saved as screenshots`, async ({ browser }) => {
    test.setTimeout(60_000);
    const signUp = await accountScreen(browser, scheme, "/sign-up");
    await expect(signUp.getByRole("heading", { level: 1 })).toHaveText("Create an account");
    await fillCredentials(signUp, "taken", "x");
    await signUp.screenshot({ path: `screenshots/sign-up-mobile-${scheme}.png` });
    expect(await seriousViolations(signUp), "sign-up").toEqual([]);

    const signIn = await accountScreen(browser, scheme, "/sign-in");
    await fillCredentials(signIn, "nobody-here", "not the password");
    await signIn.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(signIn.getByRole("alert")).toHaveText("wrong username or password");
    await signIn.screenshot({ path: `screenshots/sign-in-mobile-${scheme}.png` });
    expect(await seriousViolations(signIn), "sign-in with an error").toEqual([]);

    // An account with two sessions, listed.
    const username = uniqueUser(`look${scheme}`);
    const page = await accountScreen(browser, scheme, "/sign-up");
    await fillCredentials(page, username, "a long password");
    await page.getByRole("button", { name: "Create account" }).click();
    await expect(page.getByRole("link", { name: `Account: ${username}` })).toBeVisible();
    await page.screenshot({ path: `screenshots/signed-in-chat-mobile-${scheme}.png` });
    expect(await seriousViolations(page), "the chat, signed in").toEqual([]);
    await signIn.goto("/sign-in");
    await fillCredentials(signIn, username, "a long password");
    await signIn.getByRole("button", { name: "Sign in", exact: true }).click();
    await expect(signIn.getByRole("link", { name: `Account: ${username}` })).toBeVisible();
    await page.getByRole("link", { name: `Account: ${username}` }).click();
    await expect(page.getByRole("listitem")).toHaveCount(2);
    await page.screenshot({ path: `screenshots/account-mobile-${scheme}.png` });
    expect(await seriousViolations(page), "the account page").toEqual([]);
    // Keyboard only: the other session's button, then signed out of it.
    await page.getByRole("button", { name: "Sign out of every other session" }).focus();
    await page.keyboard.press("Enter");
    await expect(page.getByRole("status")).toHaveText("Signed out of 1 other session.");
    await page.context().close();
    await signIn.context().close();
    await signUp.context().close();
  });
}
