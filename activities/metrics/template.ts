// Rendering of MetricTemplate queries, compatible with the Go text/template subset Flagger's templates use:
// `{{ name }}`, `{{ namespace }}`, `{{ target }}`, `{{ service }}`, `{{ ingress }}`, `{{ route }}`,
// `{{ interval }}`, `{{ variables.key }}`, comments, and the `{{-` / `-}}` whitespace-trimming forms.
//
// Anything else (pipelines, conditionals, unknown names, missing variables) is an error naming the template
// and the line and column of the action, instead of Go's silent "<no value>".
import { TemplateError } from './errors.ts';

/** The values a query can reference (Flagger's MetricTemplateModel plus `route`). */
export interface TemplateModel {
  name: string;
  namespace: string;
  target: string;
  service: string;
  ingress: string;
  route: string;
  interval: string;
  variables: Record<string, string>;
}

const MODEL_KEYS = ['name', 'namespace', 'target', 'service', 'ingress', 'route', 'interval'] as const;
type ModelKey = (typeof MODEL_KEYS)[number];

/** A parsed template: literal text and references, ready to render many times. */
export type Part = string | { key: ModelKey } | { variable: string; at: number };

export interface CompiledTemplate {
  label: string;
  source: string;
  parts: Part[];
}

const IDENT_CHAIN = /^([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)$/;
const TRIM_SPACE = /^[ \t\r\n]/;

export function compileTemplate(source: string, label = 'query'): CompiledTemplate {
  const parts: Part[] = [];
  let pos = 0;
  let trimNext = false;
  while (pos < source.length) {
    const open = source.indexOf('{{', pos);
    let text = source.slice(pos, open === -1 ? source.length : open);
    if (trimNext) text = text.replace(/^[ \t\r\n]+/, '');
    if (open === -1) {
      pushText(parts, text);
      break;
    }
    const close = source.indexOf('}}', open + 2);
    if (close === -1) throw positioned(label, source, open, 'unclosed action');
    let body = source.slice(open + 2, close);
    // Go: "{{- " trims the text before, " -}}" the text after; the dash must be followed/preceded by a space.
    const trimLeft = body.startsWith('-') && TRIM_SPACE.test(body.slice(1));
    const trimRight = body.endsWith('-') && TRIM_SPACE.test(body.slice(-2, -1));
    if (trimLeft) {
      body = body.slice(1);
      text = text.replace(/[ \t\r\n]+$/, '');
    }
    if (trimRight) body = body.slice(0, -1);
    pushText(parts, text);
    const ref = parseAction(body.trim(), label, source, open);
    if (ref) parts.push(ref);
    trimNext = trimRight;
    pos = close + 2;
  }
  return { label, source, parts };
}

function pushText(parts: Part[], text: string): void {
  if (text) parts.push(text);
}

function parseAction(body: string, label: string, source: string, at: number): Part | undefined {
  if (body.startsWith('/*')) {
    if (!body.endsWith('*/')) throw positioned(label, source, at, 'unclosed comment');
    return undefined;
  }
  if (body === '') throw positioned(label, source, at, 'missing value for command');
  const m = IDENT_CHAIN.exec(body);
  if (!m) {
    throw positioned(
      label,
      source,
      at,
      `unsupported action "{{ ${body} }}": use one of ${MODEL_KEYS.join(', ')} or variables.KEY`,
    );
  }
  const ident = m[1]!;
  const fields = m[2] ? m[2].slice(1).split('.') : [];
  if (ident === 'variables') {
    if (fields.length !== 1)
      throw positioned(label, source, at, `"{{ ${body} }}" needs exactly one key: variables.KEY`);
    return { variable: fields[0]!, at };
  }
  if (!(MODEL_KEYS as readonly string[]).includes(ident)) {
    throw positioned(label, source, at, `function "${ident}" not defined`);
  }
  if (fields.length > 0) throw positioned(label, source, at, `${ident} is a string and has no field ${fields[0]}`);
  return { key: ident as ModelKey };
}

export function renderCompiled(tpl: CompiledTemplate, model: TemplateModel): string {
  let out = '';
  for (const part of tpl.parts) {
    if (typeof part === 'string') out += part;
    else if ('key' in part) out += model[part.key];
    else out += variable(tpl, model, part.variable, part.at);
  }
  return out;
}

function variable(tpl: CompiledTemplate, model: TemplateModel, key: string, at: number): string {
  const value = Object.hasOwn(model.variables, key) ? model.variables[key] : undefined;
  if (value !== undefined) return value;
  const known = Object.keys(model.variables);
  const hint = known.length ? `templateVariables has ${known.join(', ')}` : 'the metric sets no templateVariables';
  throw positioned(tpl.label, tpl.source, at, `no variable "${key}" (${hint})`);
}

/** Parse and render in one go (the parse is cheap; callers with a hot loop may keep the compiled form). */
export function renderQuery(source: string, model: TemplateModel, label = 'query'): string {
  return renderCompiled(compileTemplate(source, label), model);
}

function positioned(label: string, source: string, offset: number, message: string): TemplateError {
  const before = source.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return new TemplateError(`template ${label}: line ${line}, column ${column}: ${message}`);
}
