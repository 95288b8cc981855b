/**
 * The `route` label of the request metrics: the name of the URL-table entry a request
 * resolves to (Django's url name), so the label set is as small and fixed as the table. What
 * no route matches is labelled by what the router decided ("not-found", "redirect", …), never
 * by the path a client sent.
 */
import { appRoutes } from './app/routes.js';
import { createRouter } from './router/index.js';

export function createRouteNamer(options: { faultRoutes: boolean }): (method: string, target: string) => string {
  // The router the application builds is private to it; resolving the table a second time costs
  // a few regex tests per request, against one more field in the application interface.
  const router = createRouter(appRoutes(options));
  return (method, target) => {
    const resolution = router.resolve(method, target);
    return resolution.kind === 'match' ? resolution.routeName ?? 'unnamed' : resolution.kind;
  };
}
