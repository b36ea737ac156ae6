/**
 * mailverify for Google Sheets: a "Verify emails" menu and sidebar that
 * send the addresses of the active sheet to a mailverify service
 * (POST /v1/jobs, then GET /v1/jobs/{id} and /v1/jobs/{id}/results) with
 * the user's API key, and write a status, a reason and a checked-at time
 * in three columns it adds and anchors with developer metadata; plus an
 * optional installable on-edit trigger that checks new addresses
 * (GET /v1/verify). SERVICE_URL must also be listed in appsscript.json's
 * urlFetchWhitelist, which Apps Script enforces.
 */

const SERVICE_URL = 'https://mailverify.example.com/';
const API_KEY_PROPERTY = 'mailverify.apiKey';
const JOB_PROPERTY = 'mailverify.job';
/** The same anchors as the mailverify command line uses, so both find the same columns. */
const ANCHOR_KEY = 'mailverify.column';
const OWN_COLUMNS = [
  ['status', 'Email status'],
  ['reason', 'Email reason'],
  ['checkedAt', 'Email checked at'],
];
const EMAIL_HEADER = /^(e-?mail|e-?mail address|courriel|correo|mail)$/i;
/** Seconds GET /v1/verify may wait in an on-edit trigger (30 s is the trigger's budget). */
const EDIT_TIMEOUT_SECONDS = 5;
/** Addresses checked per edit; a bigger paste waits for the sidebar. */
const MAX_EDIT_ADDRESSES = 20;

function onOpen() {
  SpreadsheetApp.getUi()
    .createMenu('Verify emails')
    .addItem('Open sidebar', 'showSidebar')
    .addItem('Check new rows automatically', 'installEditTrigger')
    .addItem('Stop checking automatically', 'removeEditTrigger')
    .addToUi();
}

function onInstall() {
  onOpen();
}

function showSidebar() {
  const html = HtmlService.createHtmlOutputFromFile('Sidebar').setTitle('Verify emails');
  SpreadsheetApp.getUi().showSidebar(html);
}

/** Called by the sidebar. */
function saveApiKey(apiKey) {
  PropertiesService.getUserProperties().setProperty(API_KEY_PROPERTY, String(apiKey).trim());
  return true;
}

function hasApiKey() {
  return Boolean(PropertiesService.getUserProperties().getProperty(API_KEY_PROPERTY));
}

/** Starts a job with the sheet's addresses; the sidebar then polls pollJob(). */
function startJob() {
  const sheet = SpreadsheetApp.getActiveSheet();
  const emailColumn = findEmailColumn(sheet);
  const emails = readEmails(sheet, emailColumn)
    .map((row) => row.email)
    .filter((email, index, all) => all.indexOf(email) === index);
  if (emails.length === 0) return { state: 'done', message: 'No addresses in this sheet.' };

  const answer = callService('post', 'v1/jobs', { emails });
  const job = { id: answer.job.id, sheetId: sheet.getSheetId(), total: emails.length };
  PropertiesService.getDocumentProperties().setProperty(JOB_PROPERTY, JSON.stringify(job));
  return { state: 'running', message: `Verifying ${emails.length} addresses…` };
}

/** One poll: progress while the job runs, the statuses written when it is done. */
function pollJob() {
  const saved = PropertiesService.getDocumentProperties().getProperty(JOB_PROPERTY);
  if (!saved) return { state: 'done', message: 'Nothing running.' };
  const job = JSON.parse(saved);

  const answer = callService('get', `v1/jobs/${encodeURIComponent(job.id)}`);
  const status = answer.job.status;
  if (status === 'receiving' || status === 'queued' || status === 'running') {
    return { state: 'running', message: `Verified ${answer.job.done} of ${answer.job.total}…` };
  }
  PropertiesService.getDocumentProperties().deleteProperty(JOB_PROPERTY);
  if (status !== 'completed') {
    return { state: 'done', message: `The job ended: ${status}.` };
  }

  const text = callService('get', `v1/jobs/${encodeURIComponent(job.id)}/results`, null, true);
  const results = {};
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .forEach((line) => {
      const result = JSON.parse(line);
      results[result.email] = result;
    });
  const sheet = findSheetById(job.sheetId);
  const written = writeStatuses(sheet, results);
  return { state: 'done', message: `Done: ${written} rows updated.` };
}

function installEditTrigger() {
  removeEditTrigger();
  ScriptApp.newTrigger('checkEditedRows')
    .forSpreadsheet(SpreadsheetApp.getActive())
    .onEdit()
    .create();
  SpreadsheetApp.getUi().alert('New or edited addresses will be checked as you type them.');
}

function removeEditTrigger() {
  ScriptApp.getProjectTriggers()
    .filter((trigger) => trigger.getHandlerFunction() === 'checkEditedRows')
    .forEach((trigger) => ScriptApp.deleteTrigger(trigger));
}

/** The installable on-edit trigger: checks addresses typed or pasted into the email column. */
function checkEditedRows(event) {
  const range = event.range;
  const sheet = range.getSheet();
  const emailColumn = findEmailColumn(sheet, true);
  if (emailColumn === null) return;
  const firstColumn = range.getColumn();
  const isEmailEdit =
    firstColumn <= emailColumn && emailColumn < firstColumn + range.getNumColumns();
  if (!isEmailEdit || range.getLastRow() < 2) return;

  const firstRow = Math.max(range.getRow(), 2);
  const rows = Math.min(range.getLastRow() - firstRow + 1, MAX_EDIT_ADDRESSES);
  const values = sheet.getRange(firstRow, emailColumn, rows, 1).getDisplayValues();
  const results = {};
  values.forEach(([cell]) => {
    const email = String(cell).trim();
    if (email === '' || results[email]) return;
    const query = `email=${encodeURIComponent(email)}&timeout=${EDIT_TIMEOUT_SECONDS}`;
    const answer = callService('get', `v1/verify?${query}`);
    if (answer.verdict) results[email] = answer;
  });
  writeStatuses(sheet, results);
}

/** 1-based column of the addresses: the anchored one, else the first email-like header. */
function findEmailColumn(sheet, isQuiet) {
  const anchored = findAnchoredColumn(sheet, 'email');
  if (anchored !== null) return anchored;

  const headers = sheet.getRange(1, 1, 1, Math.max(sheet.getLastColumn(), 1)).getDisplayValues()[0];
  const index = headers.findIndex((header) => EMAIL_HEADER.test(String(header).trim()));
  if (index === -1) {
    if (isQuiet) return null;
    throw new Error(`No email column among the headers: ${headers.filter(String).join(', ')}`);
  }
  sheet.getRange(1, index + 1, sheet.getMaxRows(), 1).addDeveloperMetadata(ANCHOR_KEY, 'email');
  return index + 1;
}

function findAnchoredColumn(sheet, role) {
  const found = sheet.createDeveloperMetadataFinder().withKey(ANCHOR_KEY).withValue(role).find();
  for (const metadata of found) {
    const location = metadata.getLocation();
    if (location.getLocationType() === SpreadsheetApp.DeveloperMetadataLocationType.COLUMN) {
      return location.getColumn().getColumn();
    }
  }
  return null;
}

function readEmails(sheet, emailColumn) {
  const lastRow = sheet.getLastRow();
  if (lastRow < 2) return [];
  return sheet
    .getRange(2, emailColumn, lastRow - 1, 1)
    .getDisplayValues()
    .map(([cell], offset) => ({ row: offset + 2, email: String(cell).trim() }))
    .filter((entry) => entry.email !== '');
}

/**
 * Writes only cells of our own columns, in rows whose address has a result
 * now: one read and one write per column, whatever the number of rows.
 */
function writeStatuses(sheet, results) {
  const emailColumn = findEmailColumn(sheet);
  const rows = readEmails(sheet, emailColumn).filter((entry) => results[entry.email]);
  if (rows.length === 0) return 0;
  const lastRow = rows[rows.length - 1].row;

  OWN_COLUMNS.forEach(([role, header], index) => {
    const range = sheet.getRange(2, ownColumn(sheet, role, header), lastRow - 1, 1);
    const cells = range.getValues();
    rows.forEach(({ row, email }) => {
      const result = results[email];
      cells[row - 2][0] = [result.verdict, result.reason, result.checkedAt][index];
    });
    range.setValues(cells);
  });
  return rows.length;
}

function ownColumn(sheet, role, header) {
  const anchored = findAnchoredColumn(sheet, role);
  if (anchored !== null) return anchored;
  const column = sheet.getLastColumn() + 1;
  if (column > sheet.getMaxColumns()) sheet.insertColumnAfter(sheet.getMaxColumns());
  sheet.getRange(1, column).setValue(header);
  const whole = sheet.getRange(1, column, sheet.getMaxRows(), 1);
  whole.addDeveloperMetadata(ANCHOR_KEY, role);
  // Plain text, so a checked-at time stays the ISO text the command line wrote or reads.
  whole.setNumberFormat('@');
  return column;
}

function findSheetById(sheetId) {
  const sheet = SpreadsheetApp.getActive()
    .getSheets()
    .find((candidate) => candidate.getSheetId() === sheetId);
  if (!sheet) throw new Error('The sheet of this job no longer exists.');
  return sheet;
}

function callService(method, path, payload, isText) {
  const apiKey = PropertiesService.getUserProperties().getProperty(API_KEY_PROPERTY);
  if (!apiKey) throw new Error('Set your mailverify API key in the sidebar first.');
  const options = {
    method,
    headers: { Authorization: `Bearer ${apiKey}` },
    muteHttpExceptions: true,
  };
  if (payload) {
    options.contentType = 'application/json';
    options.payload = JSON.stringify(payload);
  }
  const response = UrlFetchApp.fetch(SERVICE_URL + path, options);
  const code = response.getResponseCode();
  if (code >= 400) throw new Error(`mailverify answered ${code}: ${response.getContentText()}`);
  return isText ? response.getContentText() : JSON.parse(response.getContentText());
}
