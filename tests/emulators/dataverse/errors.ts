/** Dataverse-shaped errors: `{"error":{"code":"0x…","message":…}}` (reference dataverse-side.md §2.2). */

export class DvError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
  body(): { error: { code: string; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

export const CODES = {
  objectDoesNotExist: '0x80040217',
  duplicateRecord: '0x80040237',
  duplicateEntityKey: '0x80060892',
  versionMismatch: '0x80060882',
  duplicateDetection: '0x80040333',
  stringLength: '0x80044331',
  invalidArgument: '0x80040203',
  /** Generic OData-layer error (bad URL segment, bad property, bad query option). */
  odata: '0x80060888',
  requestsLimit: '0x80072322',
  executionTimeLimit: '0x80072321',
  concurrencyLimit: '0x80072326',
  notSupported: '0x80040227',
  statusForState: '0x8004431a',
  choiceOutOfRange: '0x8004431a',
} as const;

export const notFound = (logicalName: string, id: string): DvError =>
  new DvError(404, CODES.objectDoesNotExist, `${logicalName} With Id = ${id} Does Not Exist`);

export const notFoundByKey = (logicalName: string): DvError =>
  new DvError(404, CODES.objectDoesNotExist, `A record with the specified key values does not exist in ${logicalName} entity`);

export const duplicateRecord = (): DvError =>
  new DvError(412, CODES.duplicateRecord, 'A record with matching key values already exists.');

export const badRequest = (message: string, code: string = CODES.odata): DvError => new DvError(400, code, message);
