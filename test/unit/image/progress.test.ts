import assert from "node:assert/strict";
import { parseStepLine, StepOutput } from "../../../src/image/progress";

describe("build progress", function () {
  it("reads the classic builder's step lines", function () {
    assert.deepEqual(parseStepLine("Step 3/24 : RUN apt-get update\n"), { step: 3, total: 24, instruction: "RUN apt-get update" });
    assert.equal(parseStepLine(" ---> Running in 1234"), undefined);
  });

  it("keeps only the current step's output, bounded", function () {
    const output = new StepOutput(3);
    output.push("Step 1/2 : FROM x\n ---> abc\n");
    output.push("Step 2/2 : RUN false\n");
    output.push("a\nb\nc\nd\n");
    assert.deepEqual(output.tail(), ["b", "c", "d"]);
    output.push("\x1b[91mE: Unable to locate package x\n\x1b[0m\nRemoving intermediate container 92b3\n");
    assert.deepEqual(output.tail(), ["c", "d", "E: Unable to locate package x"]);
  });
});
