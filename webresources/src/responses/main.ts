/** Entry of crs_/panels/campaignresponses.js. */
import { campaignResponse } from '../../../solution/model/tables.js';
import { bootPanel } from '../shared/boot.js';
import { loadingBlock, panelHeading } from '../shared/ui.js';
import { ResponsesController } from './controller.js';
import { DEFAULT_PAGE_SIZE } from './model.js';
import { renderResponses } from './view.js';

bootPanel<ResponsesController>({
  defaultPageSize: DEFAULT_PAGE_SIZE,
  tables: [campaignResponse],
  create: (client, record, pageSize, rerender) => new ResponsesController(client, record, pageSize, rerender),
  load: (c) => c.load(),
  render: (c, v) =>
    c
      ? renderResponses(c.current, v, { retry: () => void c.load(), loadMore: () => void c.loadMore(), setFilter: (cat) => void c.setFilter(cat) })
      : [panelHeading(v.t, 'responsesTitle'), loadingBlock(v.t)],
});
