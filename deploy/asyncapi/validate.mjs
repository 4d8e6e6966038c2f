// Validates an AsyncAPI document with the AsyncAPI project's own parser, as its CLI's
// `asyncapi validate` does: errors fail, warnings are printed.
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const path = process.argv[2];
const diagnostics = await new Parser().validate(await readFile(path, "utf8"), { source: path });
const names = { [DiagnosticSeverity.Error]: "error", [DiagnosticSeverity.Warning]: "warning",
  [DiagnosticSeverity.Information]: "info", [DiagnosticSeverity.Hint]: "hint" };
for (const d of diagnostics) {
  const line = d.range.start.line + 1;
  console.log(`${path}:${line}: ${names[d.severity]} ${d.code}: ${d.message} (at ${d.path.join(".")})`);
}
const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error).length;
console.log(errors ? `${path}: ${errors} error(s)` : `${path} is a valid AsyncAPI document`);
process.exit(errors ? 1 : 0);
