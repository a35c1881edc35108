/**
 * The one role check of the HTTP edge: every REST route that needs a role
 * runs `allow(auth, action)` first. The principal comes from the bearer
 * token or the page's cookie (page-cookie.ts); a request it does not allow
 * fails EPERM before the route runs, and the principal stays on
 * `res.locals` for the route to name in its log lines (`principalOf`).
 */

import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Auth, type Action, type Principal } from './auth.js';
import { presentedToken } from './page-cookie.js';

export function allow(auth: Auth, action: Action): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const principal = auth.identify(presentedToken(req.headers));
    Auth.require(principal, action);
    res.locals.principal = principal;
    next();
  };
}

/** The principal `allow` admitted for this request. */
export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}
