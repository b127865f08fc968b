/** Entry of crs_/panels/optinhistory.js. */
import { advertisingConsent, optInHistory } from '../../../solution/model/tables.js';
import { bootPanel } from '../shared/boot.js';
import { loadingBlock, panelHeading } from '../shared/ui.js';
import { OptInController } from './controller.js';
import { DEFAULT_PAGE_SIZE } from './model.js';
import { renderOptIn } from './view.js';

bootPanel<OptInController>({
  defaultPageSize: DEFAULT_PAGE_SIZE,
  tables: [advertisingConsent, optInHistory],
  create: (client, record, pageSize, rerender) => new OptInController(client, record, pageSize, rerender),
  load: (c) => c.load(),
  render: (c, v) =>
    c
      ? renderOptIn(c.current, v, { retry: () => void c.load(), loadMore: () => void c.loadMore(), loadMoreHistory: (id) => void c.loadMoreHistory(id) })
      : [panelHeading(v.t, 'optinTitle'), loadingBlock(v.t)],
});
