/**
 * What an application imports from twotier (`import { fromNodeHandler } from 'twotier'`, or from
 * plain JavaScript the types through JSDoc: `/** @type {import('twotier').CreateApp} *\/`).
 * The contract is the default export of an APP_MODULE: createApp(context) → Application.
 */
export type {
  AppBody, AppContext, AppHeaders, AppMode, AppRequest, AppResponse, AppResponseHeaders, AppWebSocket, AppWebSocketEvent, Application, CreateApp,
} from './app-interface.js';
export { fromNodeHandler, type NodeRequestListener } from './node-handler.js';
