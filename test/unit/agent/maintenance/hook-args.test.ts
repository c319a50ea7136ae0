import { describe, expect, it } from "vitest";
import { VM_NAME_PATTERN, checkHookArgs } from "../../../../agent/maintenance/hook-args.js";
import { RUN_ID_PATTERN, newRunId } from "../../../../shared/ids.js";
import { StepErrorCodes } from "../../../../shared/protocol/steps.js";

describe("what a hook may be handed", () => {
  it("VM names: letters, digits, '.', '_', '-', not beginning with '.' or '-', at most 200 characters", () => {
    for (const vm of ["web1", "db.example.com", "web_1-a", "_tmp", "9", "a".repeat(200)]) expect(VM_NAME_PATTERN.test(vm), vm).toBe(true);
    for (const vm of ["", "-oProxyCommand=x", "--help", ".", "..", ".hidden", "a/b", "a b", "a\tb", "a\nb", "a\u0000b", "a\u007fb",
      "host:/etc", "web$(id)", "web`id`", "a;b", "a|b", "a&b", "a*", "a?", "~root", "é", "a".repeat(201)]) {
      expect(VM_NAME_PATTERN.test(vm), JSON.stringify(vm)).toBe(false);
    }
  });

  it("run ids: the controller's format only", () => {
    for (let i = 0; i < 50; i++) expect(RUN_ID_PATTERN.test(newRunId(new Date(Date.now() - i * 86_400_123))), "newRunId").toBe(true);
    for (const id of ["", "$(id)", "run-42", "20261123-020501-3fa9 ", "20261123-020501-3fa9\n", "20261123-020501-3FA9",
      "20261123-020501-3fa9; id", "2026112-020501-3fa9", "dry-run"]) {
      expect(RUN_ID_PATTERN.test(id), JSON.stringify(id)).toBe(false);
    }
  });

  it("refusals are typed and say what was refused", () => {
    expect(() => checkHookArgs("-oProxyCommand=x", "$(id)", "/h")).toThrow(expect.objectContaining({ code: StepErrorCodes.BAD_VM_NAME,
      message: expect.stringMatching(/^hook \/h was not run: the VM name "-oProxyCommand=x" is not one a hook may be given/) }));
    expect(() => checkHookArgs("web1", "$(id)", "/h")).toThrow(expect.objectContaining({ code: StepErrorCodes.BAD_RUN_ID,
      message: expect.stringMatching(/^hook \/h for VM web1 was not run: "\$\(id\)" is not a nightshift run id/) }));
    expect(() => checkHookArgs("web1", newRunId(), "/h")).not.toThrow();
  });
});
