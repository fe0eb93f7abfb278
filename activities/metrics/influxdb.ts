// InfluxDB 2 (Flux): `POST <address>/api/v2/query?org=<org>` with `Authorization: Token <token>` and the JSON body
// `{query, type: "flux", dialect}` the official client sends; the answer is annotated CSV. The `_value` of the
// first record is judged (Flagger pkg/metrics/providers/influxdb.go through influxdb-client-go). The window is in
// the Flux query itself (`range(start: -{{ interval }})`), none is added.
import { DEFAULT_TIMEOUT_MS, postText, snippet, templateHeaders } from './http.ts';
import { NoValuesError, ProviderConfigError, QueryError } from './errors.ts';
import type { MetricsProvider, ProviderOptions } from './provider.ts';

/** Flagger's probe: any answer of this query (rows or none) proves the API and the credentials. */
export const INFLUXDB_PROBE = 'from(bucket: "default") |> range(start: -2h)';

/** The dialect influxdb-client-go asks for: header row and the three annotation rows. */
const DIALECT = { annotations: ['datatype', 'group', 'default'], delimiter: ',', header: true };
const NUMERIC = new Set(['double', 'long', 'unsignedLong']);

/**
 * Address required and a URL; with `secretRef`, Secret keys `token` and `org` are required (ProviderConfigError).
 * runQuery: NoValuesError when the answer has no record or the first record's `_value` is empty or NaN;
 * QueryError on a 4xx, an error table in the CSV, or a `_value` that is not numeric.
 */
export function createInfluxdbProvider(opts: ProviderOptions): MetricsProvider {
  const { provider, credentials } = opts;
  if (!provider.address || !URL.canParse(provider.address)) {
    throw new ProviderConfigError(`influxdb address ${provider.address ?? ''} is not a valid URL`);
  }
  let token = '';
  let org = '';
  if (provider.secretRef) {
    if (!('token' in credentials)) {
      throw new ProviderConfigError('influxdb credentials does not contain an authentication token');
    }
    if (!('org' in credentials)) throw new ProviderConfigError('influxdb credentials does not contain an organisation');
    token = credentials.token!;
    org = credentials.org!;
  }
  const url = new URL(`${provider.address.replace(/\/+$/, '')}/api/v2/query`);
  url.searchParams.set('org', org);
  const headers = {
    ...templateHeaders(provider.headers),
    'content-type': 'application/json',
    accept: 'text/csv',
    ...(token && { authorization: `Token ${token}` }),
  };
  const query = (flux: string) =>
    postText(url, JSON.stringify(fluxRequest(flux)), {
      headers,
      timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      insecureSkipVerify: provider.insecureSkipVerify,
    });
  return {
    type: 'influxdb',
    async runQuery(flux) {
      return firstValue(await query(flux));
    },
    async isOnline() {
      firstRecord(await query(INFLUXDB_PROBE));
      return true;
    },
  };
}

/** The JSON body of a Flux query (pure). */
export function fluxRequest(flux: string): { query: string; type: 'flux'; dialect: typeof DIALECT } {
  return { query: flux, type: 'flux', dialect: DIALECT };
}

interface CsvRecord {
  value: string | undefined;
  datatype: string | undefined;
}

/** The first record's `_value` as a number (see createInfluxdbProvider for the errors). */
export function firstValue(csv: string): number {
  const record = firstRecord(csv);
  if (!record) throw new NoValuesError('empty result');
  const { value, datatype } = record;
  if (value === undefined || value === '') throw new NoValuesError(`invalid response: ${snippet(csv)}`);
  if (!datatype || !NUMERIC.has(datatype)) {
    throw new QueryError(`invalid response: _value ${value} of type ${datatype ?? 'unknown'}`);
  }
  const n = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
  if (Number.isNaN(n)) throw new NoValuesError(`invalid response: _value ${value}`);
  return n;
}

/**
 * The first data row of annotated CSV (tables separated by blank lines, each with `#datatype`, `#group`,
 * `#default` rows and a header). An error table (`error`, `reference` columns) is a QueryError.
 */
function firstRecord(csv: string): CsvRecord | undefined {
  let datatypes: string[] = [];
  let defaults: string[] = [];
  let header: string[] | undefined;
  for (const line of csv.split(/\r?\n/)) {
    if (line.trim() === '') {
      [datatypes, defaults, header] = [[], [], undefined];
      continue;
    }
    const row = csvRow(line);
    if (row[0] === '#datatype') datatypes = row;
    else if (row[0] === '#default') defaults = row;
    else if (row[0]?.startsWith('#')) continue;
    else if (!header) header = row;
    else if (header.includes('error') && header.includes('reference')) {
      throw new QueryError(`query error: ${row[header.indexOf('error')] ?? ''}`);
    } else {
      const i = header.indexOf('_value');
      if (i < 0) throw new QueryError(`invalid response: no _value column in ${snippet(header.join(','))}`);
      return { value: row[i] || defaults[i] || undefined, datatype: datatypes[i] };
    }
  }
  return undefined;
}

/** One RFC 4180 CSV row (quoted fields, doubled quotes). */
function csvRow(line: string): string[] {
  const out: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(field);
      field = '';
    } else field += c;
  }
  out.push(field);
  return out;
}
