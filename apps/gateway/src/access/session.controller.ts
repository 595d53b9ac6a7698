import { Controller, Delete, HttpCode, Post, Req, Res } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { serialize } from 'cookie';
import { UnauthorizedError } from '#contracts';
import { Access } from '#platform';
import { ApiDoc } from '../http/api-docs.js';
import type { AccessContext } from './access.guard.js';
import { bearerOf, SESSION_COOKIE } from './authenticator.js';
import { isLoopback } from './safe-binding.js';

/** The Host header's name (`127.0.0.1:3000`, `[::1]:3000`), where a Secure cookie over http may not be kept. */
function isLoopbackHost(host: string | undefined): boolean {
  return isLoopback((host ?? '').replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
}

/**
 * Browser sign-in (SPEC 4.3): a page cannot set the Authorization header on an EventSource, so it posts its
 * bearer token once and gets it back as an HttpOnly, SameSite=Strict cookie (Secure off loopback), valid as long
 * as the token. State-changing requests authenticated by the cookie must come from the gateway's own pages.
 */
@Controller('auth')
@ApiTags('access')
export class SessionController {
  @Access.token()
  @Post('session')
  @HttpCode(200)
  @ApiDoc('Sign a browser in: the bearer token of the request becomes an HttpOnly session cookie', {
    401: 'no bearer token, or one that does not verify',
  })
  signIn(@Req() req: Request, @Res({ passthrough: true }) res: Response): { expires_at: string | null } {
    const access = (req as Request & { access?: AccessContext }).access;
    const token = bearerOf(req);
    if (!access || access.via !== 'header' || !token) {
      throw new UnauthorizedError('sign in with the token in the Authorization header');
    }
    const maxAge =
      access.expiresAt === undefined ? undefined : access.expiresAt - Math.floor(Date.now() / 1000);
    res.setHeader('Set-Cookie', sessionCookie(req, token, maxAge));
    return {
      expires_at: access.expiresAt === undefined ? null : new Date(access.expiresAt * 1000).toISOString(),
    };
  }

  @Access.public()
  @Delete('session')
  @HttpCode(204)
  @ApiDoc('Sign a browser out: the session cookie is removed', {})
  signOut(@Req() req: Request, @Res({ passthrough: true }) res: Response): void {
    res.setHeader('Set-Cookie', sessionCookie(req, '', 0));
  }
}

function sessionCookie(req: Request, value: string, maxAge: number | undefined): string {
  return serialize(SESSION_COOKIE, value, {
    httpOnly: true,
    sameSite: 'strict',
    path: '/',
    secure: !isLoopbackHost(req.headers.host),
    ...(maxAge === undefined ? {} : { maxAge: Math.max(0, maxAge) }),
  });
}
