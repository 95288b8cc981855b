export { createRouter, path, rePath } from './router.js';
export type { MethodHandlers, Resolution, RouteDefinition, RouteEntry, RouteParams, Router } from './router.js';
export { CONVERTERS } from './converters.js';
export type { Converter, ParamValue } from './converters.js';
export { MalformedPathError } from './path-text.js';
