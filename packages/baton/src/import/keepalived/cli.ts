/** The `import-keepalived` command: files in, baton.yaml out, the summary on stderr. */
import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { formatSummary, importKeepalived, EXIT_PARSE_ERROR } from './index.js';
import { fileSystemReader } from './source.js';

export function runImportKeepalived(file: string, output: string | undefined): number {
  const path = resolve(file);
  const result = importKeepalived(path, { source: fileSystemReader });
  if (!result.ok) {
    process.stderr.write(`error: ${result.error}\n`);
    return result.exitCode;
  }
  if (output) {
    try {
      writeFileSync(output, result.yaml, { mode: 0o640 });
    } catch (err) {
      process.stderr.write(`error: cannot write ${output}: ${(err as Error).message}\n`);
      return EXIT_PARSE_ERROR;
    }
  } else process.stdout.write(result.yaml);
  process.stderr.write(formatSummary(result, dirname(path)));
  return result.exitCode;
}
