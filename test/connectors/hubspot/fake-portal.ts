/**
 * A stand-in HubSpot portal behind nock: contacts with properties and a
 * modification time, the CRM objects, search, batch and properties
 * endpoints as the real API answers them, the search's 10,000-result cap,
 * and scripted faults (429, 5xx, 207) for the next calls to a path.
 */
import nock from 'nock';

export const BASE_URL = 'https://api.hubapi.test';

export interface Fault {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

interface Call {
  method: string;
  path: string;
  body: unknown;
}

type Props = Record<string, string | null>;

const SEARCH_CAP = 10_000;
const LIMIT_HEADERS = {
  'x-hubspot-ratelimit-max': '190',
  'x-hubspot-ratelimit-remaining': '180',
  'x-hubspot-ratelimit-interval-milliseconds': '10000',
};

export class FakePortal {
  readonly contacts = new Map<string, { properties: Props; modifiedAt: number }>();
  readonly calls: Call[] = [];
  readonly groups: string[] = [];
  readonly properties: string[] = ['email', 'firstname'];
  /** Ids the batch update refuses (answered 207) and the single update refuses (404). */
  readonly refusedIds = new Set<string>();
  private readonly faults: { path: RegExp; fault: Fault; skip: number }[] = [];
  /** After the fake verifier's checkedAt, within a deliverable result's lifetime. */
  now = Date.parse('2025-01-05T00:00:00Z');

  constructor() {
    this.intercept();
  }

  addContacts(count: number, properties: (index: number) => Props, firstId = 1): void {
    for (let index = 0; index < count; index += 1) {
      const id = String(firstId + index);
      this.contacts.set(id, { properties: { ...properties(index) }, modifiedAt: this.now });
    }
  }

  touch(id: string, properties: Props, at: number): void {
    const contact = this.contacts.get(id)!;
    Object.assign(contact.properties, properties);
    contact.modifiedAt = at;
  }

  failNext(path: RegExp, ...faults: Fault[]): void {
    faults.forEach((fault) => this.faults.push({ path, fault, skip: 0 }));
  }

  /** Answers the call to `path` after `skip` successful ones with the fault. */
  failLater(path: RegExp, skip: number, fault: Fault): void {
    this.faults.push({ path, fault, skip });
  }

  callsTo(method: string, path: RegExp): Call[] {
    return this.calls.filter((call) => call.method === method && path.test(call.path));
  }

  close(): void {
    nock.cleanAll();
  }

  private intercept(): void {
    // nock 15 hands reply functions a fetch Request.
    const answer = async (request: Request) => {
      const text = await request.text();
      return this.route(request.method, request.url, text === '' ? null : JSON.parse(text));
    };
    const scope = nock(BASE_URL).persist();
    scope.get(/.*/).reply(answer);
    scope.post(/.*/).reply(answer);
    scope.patch(/.*/).reply(answer);
  }

  private route(method: string, uri: string, body: unknown): nock.ReplyFnResult {
    const url = new URL(uri, BASE_URL);
    this.calls.push({ method, path: url.pathname, body });
    const faultIndex = this.faults.findIndex((entry) => entry.path.test(url.pathname));
    const entry = this.faults[faultIndex];
    if (entry && entry.skip > 0) {
      entry.skip -= 1;
    } else if (entry) {
      this.faults.splice(faultIndex, 1);
      const { fault } = entry;
      const body = (fault.body ?? { status: 'error', message: 'scripted' }) as nock.Body;
      return [fault.status, body, fault.headers ?? {}];
    }

    const path = url.pathname;
    if (method === 'GET' && path === '/crm/v3/objects/contacts') return this.page(url);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/search') return this.search(body);
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/update') {
      return this.batchUpdate(body as { inputs: { id: string; properties: Props }[] });
    }
    if (method === 'POST' && path === '/crm/v3/objects/contacts/batch/read') {
      const request = body as { inputs: { id: string }[]; properties: string[] };
      const found = request.inputs.filter((input) => this.contacts.has(input.id));
      return ok(batchOf(found.map((input) => this.object(input.id, request.properties))));
    }
    if (method === 'POST' && /^\/automation\/v4\/actions\/callbacks\/[^/]+\/complete$/.test(path)) {
      return [204, '', LIMIT_HEADERS];
    }
    const single = /^\/crm\/v3\/objects\/contacts\/(\d+)$/.exec(path);
    if (method === 'PATCH' && single)
      return this.updateOne(single[1]!, body as { properties: Props });
    if (path === '/crm/v3/properties/contacts/groups') return this.groupsCall(method, body);
    if (method === 'GET' && path === '/crm/v3/properties/contacts') {
      return ok({ results: this.properties.map((name) => property(name)) });
    }
    if (method === 'POST' && path === '/crm/v3/properties/contacts/batch/create') {
      const inputs = (body as { inputs: { name: string }[] }).inputs;
      inputs.forEach((input) => this.properties.push(input.name));
      return [201, batchOf(inputs.map((input) => property(input.name))), LIMIT_HEADERS];
    }
    return [404, { status: 'error', message: `no route ${method} ${path}` }];
  }

  private page(url: URL): nock.ReplyFnResult {
    const limit = Number(url.searchParams.get('limit') ?? '10');
    const after = Number(url.searchParams.get('after') ?? '0');
    const wanted = url.searchParams.getAll('properties').flatMap((name) => name.split(','));
    const ids = this.sortedIds().filter((id) => Number(id) > after);
    const slice = ids.slice(0, limit);
    const last = slice.at(-1);
    const paging = ids.length > limit && last ? { next: { after: last } } : undefined;
    return ok({ results: slice.map((id) => this.object(id, wanted)), paging });
  }

  private search(body: unknown): nock.ReplyFnResult {
    const request = body as {
      filterGroups: { filters: { propertyName: string; operator: string; value: string }[] }[];
      limit: number;
      after?: string;
      properties: string[];
    };
    const after = Number(request.after ?? '0');
    if (after + request.limit > SEARCH_CAP) {
      return [400, { status: 'error', category: 'VALIDATION_ERROR', message: 'over 10000' }];
    }
    const filters = request.filterGroups[0]?.filters ?? [];
    const matching = this.sortedIds().filter((id) =>
      filters.every((filter) => this.matches(id, filter)),
    );
    const slice = matching.slice(after, after + request.limit);
    const next = after + request.limit;
    const paging = matching.length > next ? { next: { after: String(next) } } : undefined;
    const results = slice.map((id) => this.object(id, request.properties));
    return ok({ total: Math.min(matching.length, SEARCH_CAP), results, paging });
  }

  private matches(id: string, filter: { propertyName: string; operator: string; value: string }) {
    const contact = this.contacts.get(id)!;
    const actual =
      filter.propertyName === 'lastmodifieddate'
        ? contact.modifiedAt
        : filter.propertyName === 'hs_object_id'
          ? Number(id)
          : Number.NaN;
    if (filter.operator === 'GTE') return actual >= Number(filter.value);
    if (filter.operator === 'GT') return actual > Number(filter.value);
    throw new Error(`fake portal cannot filter with ${filter.operator}`);
  }

  private batchUpdate(body: { inputs: { id: string; properties: Props }[] }) {
    if (body.inputs.length > 100) return [400, { status: 'error', message: 'too many' }] as const;
    const results = [];
    const errors = [];
    for (const input of body.inputs) {
      if (this.refusedIds.has(input.id)) {
        errors.push({
          status: 'error',
          category: 'OBJECT_NOT_FOUND',
          message: 'Object not found',
          context: { ids: [input.id] },
        });
        continue;
      }
      this.touch(input.id, input.properties, this.now);
      results.push(this.object(input.id, Object.keys(input.properties)));
    }
    const status = errors.length > 0 ? 207 : 200;
    const answer = {
      ...batchOf(results),
      ...(errors.length > 0 ? { errors, numErrors: errors.length } : {}),
    };
    return [status, answer, LIMIT_HEADERS] as nock.ReplyFnResult;
  }

  private updateOne(id: string, body: { properties: Props }): nock.ReplyFnResult {
    if (this.refusedIds.has(id) || !this.contacts.has(id)) {
      return [404, { status: 'error', category: 'OBJECT_NOT_FOUND', message: 'not found' }];
    }
    this.touch(id, body.properties, this.now);
    return ok(this.object(id, Object.keys(body.properties)));
  }

  private groupsCall(method: string, body: unknown): nock.ReplyFnResult {
    if (method === 'GET') {
      const results = this.groups.map((name) => ({
        name,
        label: name,
        displayOrder: -1,
        archived: false,
      }));
      return ok({ results });
    }
    const group = body as { name: string; label: string };
    this.groups.push(group.name);
    return [201, { ...group, displayOrder: -1, archived: false }, LIMIT_HEADERS];
  }

  private sortedIds(): string[] {
    return [...this.contacts.keys()].sort((a, b) => Number(a) - Number(b));
  }

  private object(id: string, wanted: string[]) {
    const contact = this.contacts.get(id)!;
    const properties: Props = { hs_object_id: id };
    for (const name of wanted) properties[name] = contact.properties[name] ?? null;
    const at = new Date(contact.modifiedAt).toISOString();
    return { id, properties, createdAt: at, updatedAt: at, archived: false };
  }
}

function ok(body: unknown): nock.ReplyFnResult {
  return [200, body as nock.Body, LIMIT_HEADERS];
}

function batchOf(results: unknown[]) {
  const at = new Date().toISOString();
  return { status: 'COMPLETE', results, startedAt: at, completedAt: at };
}

function property(name: string) {
  return {
    name,
    label: name,
    type: 'string',
    fieldType: 'text',
    groupName: 'contactinformation',
    description: '',
    options: [],
  };
}

export function fakeClock(start: number) {
  const clock = {
    time: start,
    sleeps: [] as number[],
    now: () => clock.time,
    sleep: async (ms: number) => {
      clock.sleeps.push(ms);
      clock.time += ms;
    },
  };
  return clock;
}
