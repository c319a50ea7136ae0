/**
 * Text from agents, guests and operators' specs, made safe to print on a
 * terminal. A VM name, a finding's message or a guest's output can hold ESC
 * sequences (clear the screen, move the cursor, set the window title) and CRs
 * that overwrite what came before on the line; shown raw they let whoever
 * controls an agent or a guest rewrite what the operator reads.
 */

/** Control characters (C0 except tab, DEL, C1) as \xNN, so the text cannot drive the terminal; `\n` too unless kept. */
export function escapeControl(text: string, keepNewlines = false): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g, (c) => {
    if (c === "\n") return keepNewlines ? "\n" : "\\n";
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`;
  });
}
