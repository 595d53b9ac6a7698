import { Access } from '#platform';
import { Controller, Get, Header } from '@nestjs/common';
import { DASHBOARD_HTML } from './dashboard.page.js';
import { ApiExcludeController } from '@nestjs/swagger';

@Controller()
@ApiExcludeController()
export class DashboardController {
  @Access.public()
  @Get()
  @Header('Content-Type', 'text/html; charset=utf-8')
  @Header('Cache-Control', 'no-cache')
  page(): string {
    return DASHBOARD_HTML;
  }
}
