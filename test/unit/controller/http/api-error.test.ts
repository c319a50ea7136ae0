import { describe, expect, it } from "vitest";
import { ApiError, errorAnswer } from "../../../../controller/http/api-error.js";
import { PlanError } from "../../../../controller/planning/plan-errors.js";
import { RunRequestError } from "../../../../controller/runs/plan.js";
import { NightshiftError } from "../../../../shared/errors.js";
import { WaveSpecError } from "../../../../shared/windows.js";

describe("errorAnswer: the status comes from the code's registry entry", () => {
  it("answers any NightshiftError whose code has a status", () => {
    expect(errorAnswer(new ApiError("NS_ERR_BAD_REQUEST", "limit=x"))).toEqual({ status: 400, code: "NS_ERR_BAD_REQUEST", message: "limit=x" });
    expect(errorAnswer(new PlanError("NS_ERR_NO_PLAN", "no plan"))).toEqual({ status: 404, code: "NS_ERR_NO_PLAN", message: "no plan" });
    expect(errorAnswer(new PlanError("NS_ERR_PLAN_ACTIVE", "started"))).toMatchObject({ status: 409 });
    expect(errorAnswer(new RunRequestError("NS_ERR_VM_IN_RUN", "busy"))).toMatchObject({ status: 409, code: "NS_ERR_VM_IN_RUN" });
    expect(errorAnswer(new RunRequestError("NS_ERR_NO_VM", "no vm"))).toMatchObject({ status: 404 });
    expect(errorAnswer(new WaveSpecError("waves out of order"))).toMatchObject({ status: 400, code: "NS_ERR_WAVE_SPEC" });
  });

  it("has no answer for a code without a status, a 5xx, or anything that is not a NightshiftError (the router's 500)", () => {
    expect(errorAnswer(new NightshiftError("NS_ERR_STORE", "disk full"))).toBeNull();
    expect(errorAnswer(new NightshiftError("NS_ERR_INTERNAL", "x"))).toBeNull();
    expect(errorAnswer(new Error("bug"))).toBeNull();
    expect(errorAnswer("thrown string")).toBeNull();
  });
});
