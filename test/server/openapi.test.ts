/**
 * manifest/openapi.yaml against the app: the same routes both ways, the
 * same error codes as the catalogue, and every example in the document
 * valid against the zod schema the route uses.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { composeService } from '../../src/cli/serve-command.js';
import { loadConfig } from '../../src/config.js';
import { jobRequestSchema } from '../../src/server/jobs-router.js';

import { API_ERRORS } from '../../src/server/api-error.js';
import { loadOpenApiDocument } from '../../src/server/openapi-document.js';
import { readRouteTable } from '../../src/server/route-table.js';
import {
  errorBodySchema,
  verificationResultSchema,
  verifyBatchAnswerSchema,
  verifyBatchPendingSchema,
  verifyBatchSchema,
  verifyPendingSchema,
  verifyQuerySchema,
} from '../../src/server/verify-schemas.js';
import { REASONS } from '../../src/verify/types.js';
import { jobAcceptedSchema, jobAnswerSchema, scheduleListSchema } from './answer-schemas.js';
import { buildTestApp } from './app-harness.js';

interface MediaType {
  schema?: unknown;
  example?: unknown;
  examples?: Record<string, { value?: unknown; $ref?: string }>;
}

interface Operation {
  operationId: string;
  parameters?: { name: string; in: string; example?: unknown }[];
  requestBody?: { content: Record<string, MediaType> };
  responses: Record<string, { content?: Record<string, MediaType> }>;
}

interface Document {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, { enum?: string[]; properties?: Record<string, unknown> }>;
    responses: Record<string, { content?: Record<string, MediaType> }>;
    examples: Record<string, { value: unknown }>;
  };
}

/** The zod schemas each operation's bodies are checked against. */
const SCHEMAS: Record<string, { request?: z.ZodType; responses: Record<string, z.ZodType> }> = {
  getHealth: { responses: { '200': z.strictObject({ status: z.literal('ok') }) } },
  getReadiness: { responses: { '200': z.strictObject({ status: z.literal('ready') }) } },
  verifyAddress: {
    responses: { '200': verificationResultSchema, '202': verifyPendingSchema },
  },
  verifyAddresses: {
    request: verifyBatchSchema,
    responses: { '200': verifyBatchAnswerSchema, '202': verifyBatchPendingSchema },
  },
  createJob: {
    request: jobRequestSchema,
    responses: { '202': jobAcceptedSchema },
  },
  getJob: { responses: { '200': jobAnswerSchema } },
  cancelJob: { responses: { '200': jobAnswerSchema } },
  listSchedules: { responses: { '200': scheduleListSchema } },
};

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const document = loadOpenApiDocument() as Document;

function operations(): { method: string; path: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

function examplesOf(media: MediaType | undefined): unknown[] {
  if (!media) return [];
  const named = Object.values(media.examples ?? {}).map((example) => {
    const name = example.$ref?.split('/').at(-1);
    return name ? document.components.examples[name]!.value : example.value;
  });
  return media.example === undefined ? named : [media.example, ...named];
}

function resolveResponse(response: { $ref?: string; content?: Record<string, MediaType> }) {
  if (!response.$ref) return response;
  const name = response.$ref.split('/').at(-1)!;
  return document.components.responses[name]!;
}

/** The routes of the app `mailverify serve` composes, in OpenAPI's path syntax. */
async function servedRoutes(): Promise<string[]> {
  const folder = mkdtempSync(join(tmpdir(), 'mailverify-openapi-'));
  const config = loadConfig({ env: { MAILVERIFY_DATABASE: join(folder, 'service.db') } });
  const service = composeService(config, pino({ level: 'silent' }));
  try {
    return readRouteTable(service.app).routes.map(
      (route) => `${route.method} ${route.path.replace(/:([A-Za-z]+)/g, '{$1}')}`,
    );
  } finally {
    await service.stop(0);
    rmSync(folder, { recursive: true, force: true });
  }
}

describe('manifest/openapi.yaml', () => {
  it('is OpenAPI 3.1 and is what /openapi.json serves', async () => {
    expect(document.openapi).toMatch(/^3\.1\.\d+$/);
    const { app } = await buildTestApp();
    const response = await request(app).get('/openapi.json').expect(200);
    expect(response.body).toEqual(JSON.parse(JSON.stringify(document)));
  });

  it('describes every route the app serves', async () => {
    const documented = new Set(operations().map((op) => `${op.method.toUpperCase()} ${op.path}`));
    const served = await servedRoutes();
    expect(served).toEqual(
      expect.arrayContaining(['GET /v1/verify', 'DELETE /v1/jobs/{id}', 'GET /v1/schedules']),
    );
    expect(served.filter((route) => !documented.has(route))).toEqual([]);
  });

  it('describes no route the app does not serve', async () => {
    const served = new Set(await servedRoutes());
    const extra = operations()
      .map((op) => `${op.method.toUpperCase()} ${op.path}`)
      .filter((route) => !served.has(route));
    expect(extra).toEqual([]);
  });

  it('lists exactly the error codes of the catalogue', () => {
    expect([...document.components.schemas.ErrorCode!.enum!].sort()).toEqual(
      Object.keys(API_ERRORS).sort(),
    );
  });

  it('lists exactly the reasons of the vocabulary, and the fields of a result', () => {
    expect(document.components.schemas.Reason!.enum).toEqual([...REASONS]);
    const documented = Object.keys(document.components.schemas.VerificationResult!.properties!);
    expect(documented.sort()).toEqual(Object.keys(verificationResultSchema.shape).sort());
  });

  it('has a schema mapping for every operation with JSON examples', () => {
    const unmapped = operations()
      .filter(({ operation }) => !(operation.operationId in SCHEMAS))
      .filter(({ operation }) =>
        Object.entries(operation.responses).some(
          ([status, response]) =>
            Number(status) < 400 &&
            examplesOf(resolveResponse(response).content?.['application/json']).length > 0,
        ),
      )
      .map(({ operation }) => operation.operationId);
    expect(unmapped).toEqual([]);
  });

  it('has request examples that the routes accept', () => {
    let checked = 0;
    for (const { operation } of operations()) {
      const schema = SCHEMAS[operation.operationId]?.request;
      for (const example of examplesOf(operation.requestBody?.content['application/json'])) {
        expect(schema, operation.operationId).toBeDefined();
        const parsed = schema!.safeParse(example);
        expect(parsed.error?.issues ?? [], operation.operationId).toEqual([]);
        checked += 1;
      }
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('has query examples for GET /v1/verify that the route accepts', () => {
    const parameters = document.paths['/v1/verify']!.get!.parameters!;
    const query = Object.fromEntries(parameters.map((p) => [p.name, String(p.example)]));
    expect(verifyQuerySchema.safeParse(query).success).toBe(true);
  });

  it('has response examples that match the schemas of the answers', () => {
    let checked = 0;
    for (const { operation } of operations()) {
      for (const [status, raw] of Object.entries(operation.responses)) {
        const response = resolveResponse(raw);
        const schema =
          Number(status) >= 400
            ? errorBodySchema
            : SCHEMAS[operation.operationId]?.responses[status];
        for (const example of examplesOf(response.content?.['application/json'])) {
          expect(schema, `${operation.operationId} ${status}`).toBeDefined();
          const parsed = schema!.safeParse(example);
          expect(parsed.error?.issues ?? [], `${operation.operationId} ${status}`).toEqual([]);
          checked += 1;
        }
      }
    }
    expect(checked).toBeGreaterThan(5);
  });
});
