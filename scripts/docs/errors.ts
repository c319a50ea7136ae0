/**
 * docs/errors.md from the error registry (shared/error-codes.ts): one table per
 * area, every code with its HTTP status, meaning and remedy. Written by
 * `npm run docs`; test/unit/shared/error-codes.test.ts fails when the file
 * differs from what this renders.
 */
import { ERROR_AREAS, ERROR_CODES, type ErrorArea, type ErrorCodeInfo } from "../../shared/error-codes.js";

export const ERRORS_DOC = "docs/errors.md";

/** Markdown table cell: no line breaks, pipes escaped. */
function cell(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").replace(/\|/g, "\\|");
}

export function renderErrorsDoc(): string {
  const entries = Object.entries(ERROR_CODES) as [string, ErrorCodeInfo][];
  const lines = [
    "# Error codes",
    "",
    "<!-- Generated from shared/error-codes.ts by `npm run docs`: edit the registry, not this file. -->",
    "",
    `Every error nightshift raises carries one of these ${entries.length} codes; the message says what happened`,
    "and names the file, key, host or VM. Where a code shows:",
    "",
    "- the CLI: `nightshift: MESSAGE (CODE)` on stderr; exit status 2 for a usage error found before anything",
    "  is sent, 1 for any other error (`nightshift-agent check`: 125 when the check cannot run);",
    "- the HTTP API (and refused upgrades on `/v1/agent`): the status in the HTTP column, with the body",
    "  `{\"error\": {\"code\": \"CODE\", \"message\": \"...\"}}`; a code without a status is never an HTTP answer",
    "  (a 500 `NS_ERR_INTERNAL` is a bug);",
    "- the agent protocol: an `error` message `{\"code\", \"message\"}`, or a step's `error` in its `step-result`;",
    "- a run's evidence: a failed step's line ends with `(CODE)`;",
    "- the agent's and the controller's logs: the `code` field.",
    "",
  ];
  for (const [area, title] of Object.entries(ERROR_AREAS) as [ErrorArea, string][]) {
    const codes = entries.filter(([, info]) => info.area === area);
    if (codes.length === 0) continue;
    lines.push(`## ${title}`, "", "| code | HTTP | meaning | what to do |", "| --- | --- | --- | --- |");
    for (const [code, info] of codes) {
      lines.push(`| \`${code}\` | ${info.status ?? ""} | ${cell(info.meaning)} | ${cell(info.remedy)} |`);
    }
    lines.push("");
  }
  return lines.join("\n");
}
