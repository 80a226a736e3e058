import AxeBuilder from "@axe-core/playwright";
import axe from "axe-core";
import { type Page } from "@playwright/test";

// Every rule of axe's, the experimental ones too, which it leaves off unless
// named; not the AAA ones (enhanced contrast and the like): the app meets
// WCAG AA, as README says.
const everyRule = axe
  .getRules()
  .filter((rule) => !rule.tags.some((tag) => /^wcag2\d*aaa$/.test(tag)))
  .map((rule) => rule.ruleId);

/** Runs axe on the page; returns the serious and critical violations, readably. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // axe-core itself at its newest (4.14; @axe-core/playwright 4.14 needs
  // Node 22), with the rules above (label-content-name-mismatch was
  // experimental until 4.14).
  const results = await new AxeBuilder({ page, axeSource: axe.source }).withRules(everyRule).analyze();
  return results.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
