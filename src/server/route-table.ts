/**
 * The routes an express app serves, read from its router stack, so that
 * the metrics, the 405 answer and the OpenAPI test all see the same list
 * as the requests do. Paths use express's `:param` syntax.
 */
import type { Application } from 'express';

export interface RouteEntry {
  method: string;
  /** The template, e.g. "/v1/jobs/:id". */
  path: string;
}

export interface RouteTable {
  routes: RouteEntry[];
  /** The template `path` matches for `method`, or null. */
  match(method: string, path: string): string | null;
  /** Methods allowed on `path`, upper-case; empty when no route has the path. */
  methodsFor(path: string): string[];
}

interface StackLayer {
  route?: { path: string; methods: Record<string, boolean> };
  handle?: { stack?: StackLayer[] };
  rawPath?: unknown;
}

/** Mounted routers deeper than this are not walked (ours nest two deep). */
const MAX_DEPTH = 8;

export function readRouteTable(app: Application): RouteTable {
  const routes = listRoutes((app.router as unknown as { stack: StackLayer[] }).stack, '', 0);
  const compiled = routes.map((route) => ({ ...route, pattern: compileTemplate(route.path) }));

  return {
    routes,
    match(method, path) {
      const wanted = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
      const found = compiled.find(
        (route) => wanted.includes(route.method) && route.pattern.test(path),
      );
      return found?.path ?? null;
    },
    methodsFor(path) {
      const methods = compiled.filter((route) => route.pattern.test(path)).map((r) => r.method);
      return [...new Set(methods)];
    },
  };
}

function listRoutes(stack: StackLayer[], prefix: string, depth: number): RouteEntry[] {
  if (depth > MAX_DEPTH) return [];

  const routes: RouteEntry[] = [];
  for (const layer of stack) {
    if (layer.route) {
      const path = joinPaths(prefix, layer.route.path);
      for (const method of Object.keys(layer.route.methods)) {
        if (method !== '_all') routes.push({ method: method.toUpperCase(), path });
      }
    } else if (layer.handle?.stack && typeof layer.rawPath === 'string') {
      routes.push(...listRoutes(layer.handle.stack, joinPaths(prefix, layer.rawPath), depth + 1));
    }
  }
  return routes;
}

function joinPaths(prefix: string, path: string): string {
  const joined = `${prefix}/${path}`.replace(/\/+/g, '/');
  return joined.length > 1 ? joined.replace(/\/$/, '') : joined;
}

function compileTemplate(template: string): RegExp {
  const source = template
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}/?$`);
}
