import { Access } from '#platform';
import { Body, Controller, HttpCode, Post, Res } from '@nestjs/common';
import { ApiBody, ApiProperty } from '@nestjs/swagger';
import type { Response } from 'express';
import {
  type AapsErrorBody,
  type AapsIr,
  type AapsWarning,
  isAapsParseError,
  parseAaps,
  SCRIPT_MAX_CHARS,
  scriptTooLarge,
} from '#aaps';
import { ApiDoc } from '../http/api-docs.js';

export class ParseScriptDto {
  @ApiProperty({ description: `an AAPS v1 script (at most ${SCRIPT_MAX_CHARS} characters)` })
  script_text: string;
}

type ParseAnswer =
  | { ok: true; ir: AapsIr; warnings: AapsWarning[] }
  | (AapsErrorBody & { message: string })
  | { ok: false; error: string; message: string };

/**
 * AutoAppDev-compatible script parsing (`POST /api/scripts/parse`, its `docs/api-contracts.md`): its body,
 * its success and error shapes (`{ok:false, error, line, detail}`), its codes; plus `warnings` (keys dropped)
 * and a `message` on every error, as every other error of this API has.
 */
@Controller()
export class ScriptsController {
  @Access.token()
  @Post('api/scripts/parse')
  @ApiDoc('AutoAppDev-compatible: parse an AAPS v1 script into its IR', {
    400: "AutoAppDev's shapes: `{ok:false, error, line, detail}` for a script error; `invalid_body`, `invalid_script_text`, `script_too_large` for the request",
  })
  @ApiBody({ type: ParseScriptDto })
  @HttpCode(200)
  parse(@Body() body: unknown, @Res({ passthrough: true }) res: Response): ParseAnswer {
    const refuse = (error: string, message: string): ParseAnswer => {
      res.status(400);
      return { ok: false, error, message };
    };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return refuse('invalid_body', 'the body must be a JSON object: {"script_text": "..."}');
    }
    const text = (body as Record<string, unknown>)['script_text'];
    if (typeof text !== 'string') return refuse('invalid_script_text', 'script_text must be a string');
    if (scriptTooLarge(text)) {
      return refuse('script_too_large', `script_text is longer than ${SCRIPT_MAX_CHARS} characters`);
    }
    try {
      const { ir, warnings } = parseAaps(text);
      return { ok: true, ir, warnings };
    } catch (error) {
      if (!isAapsParseError(error)) throw error;
      res.status(400);
      return { ...error.toBody(), message: error.message };
    }
  }
}
