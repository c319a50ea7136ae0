/** Assertions on the CLI's aligned text tables. */
import { expect } from "vitest";

/** Each row's cell starts where the header's column starts. */
export function expectAligned(text: string, header: string): void {
  const lines = text.trimEnd().split("\n");
  const start = lines[0]!.indexOf(header);
  expect(start).toBeGreaterThanOrEqual(0);
  for (const line of lines.slice(1)) {
    expect(line[start - 1], `column ${header} in ${JSON.stringify(line)}`).toBe(" ");
    expect(line[start], `column ${header} in ${JSON.stringify(line)}`).not.toBe(" ");
  }
}
