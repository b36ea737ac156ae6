/**
 * manifest/openapi.yaml, read once and served as JSON. The file is looked
 * for above this module, so it is found from src/ and from dist/src/.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const DOCUMENT_PATH = join('manifest', 'openapi.yaml');
/** src/server is two folders below the root, dist/src/server three. */
const MAX_LEVELS_UP = 4;

export function loadOpenApiDocument(path = findDocument()): unknown {
  return parse(readFileSync(path, 'utf8'));
}

export function findDocument(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level <= MAX_LEVELS_UP; level += 1) {
    const candidate = join(folder, DOCUMENT_PATH);
    if (existsSync(candidate)) return candidate;
    folder = dirname(folder);
  }
  throw new Error(`${DOCUMENT_PATH} not found above ${fileURLToPath(import.meta.url)}`);
}
