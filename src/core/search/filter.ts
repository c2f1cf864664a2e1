/**
 * MLflow's search grammar: filter strings (`metrics.acc > 0.9 AND params.lr = '0.01'`) and order_by
 * clauses (`metrics.acc DESC`) for runs, experiments, registered models and model versions.
 *
 * MLflow parses these with sqlparse and then validates the tokens; this is a small hand-written
 * lexer + recursive-descent parser that accepts the same language and reports errors in MLflow's
 * words (INVALID_PARAMETER_VALUE), with where it went wrong and what is allowed instead.
 */
import { invalidParameter } from '../errors';

// ---------------------------------------------------------------------------------------------
// Parsed forms

export type ClauseType = 'metric' | 'parameter' | 'tag' | 'attribute' | 'dataset';
export type NumericComparator = '=' | '!=' | '<' | '<=' | '>' | '>=';
export type StringComparator = '=' | '!=' | 'LIKE' | 'ILIKE';
export type ListComparator = 'IN' | 'NOT IN';
export type Comparator = NumericComparator | StringComparator | ListComparator;

/**
 * One `<identifier> <comparator> <value>` clause. `key` is canonical: aliases are resolved
 * (`created` → `start_time`, `Run name` → `run_name`) and quotes removed. The value is a number for
 * metrics and numeric attributes, a list for IN / NOT IN, a string otherwise.
 */
export interface Clause {
  type: ClauseType;
  key: string;
  comparator: Comparator;
  value: number | string | string[];
}

export type SearchEntity = 'run' | 'experiment' | 'registered_model' | 'model_version';

export interface OrderByTerm {
  type: 'attribute' | 'metric' | 'parameter' | 'tag';
  /** Canonical key: for attributes the name in MLflow's API (`start_time`, `last_updated_timestamp`). */
  key: string;
  ascending: boolean;
}

const NUMERIC_COMPARATORS: readonly NumericComparator[] = ['=', '!=', '<', '<=', '>', '>='];
const STRING_COMPARATORS: readonly StringComparator[] = ['=', '!=', 'LIKE', 'ILIKE'];
const STRING_OR_LIST_COMPARATORS: readonly Comparator[] = [...STRING_COMPARATORS, 'IN', 'NOT IN'];

// ---------------------------------------------------------------------------------------------
// Lexer

/** One dot-separated part of an identifier; `quote` is the quote it was written in, if any. */
interface Segment {
  text: string;
  quote: '' | '`' | '"' | "'";
}

type Token =
  | { kind: 'path'; segments: Segment[]; raw: string; pos: number }
  | { kind: 'string'; value: string; raw: string; pos: number }
  | { kind: 'number'; value: number; raw: string; pos: number }
  | { kind: 'operator'; raw: string; pos: number }
  | { kind: 'keyword'; word: Keyword; raw: string; pos: number }
  | { kind: 'punct'; raw: '(' | ')' | ',' | ';'; pos: number };

const KEYWORDS = ['AND', 'OR', 'IN', 'NOT', 'LIKE', 'ILIKE', 'ASC', 'DESC'] as const;
type Keyword = (typeof KEYWORDS)[number];

const WORD_START = /[\p{L}_]/u;
const WORD_CHAR = /[\p{L}\p{N}_$]/u;
const NUMBER = /-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?/y;
const OPERATOR_CHARS = /[<>=!~]/;

class Lexer {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly fail: (message: string) => never,
  ) {}

  tokenize(): Token[] {
    const tokens: Token[] = [];
    for (;;) {
      while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
      if (this.pos >= this.text.length) return tokens;
      tokens.push(this.next());
    }
  }

  private next(): Token {
    const start = this.pos;
    const c = this.text[start]!;
    if (c === "'") {
      const value = this.quoted("'");
      return { kind: 'string', value, raw: this.text.slice(start, this.pos), pos: start };
    }
    if (c === '"' || c === '`' || WORD_START.test(c)) return this.path();
    NUMBER.lastIndex = start;
    const number = NUMBER.exec(this.text);
    if (number) {
      this.pos = NUMBER.lastIndex;
      return { kind: 'number', value: Number(number[0]), raw: number[0], pos: start };
    }
    if (OPERATOR_CHARS.test(c)) {
      while (this.pos < this.text.length && OPERATOR_CHARS.test(this.text[this.pos]!)) this.pos++;
      return { kind: 'operator', raw: this.text.slice(start, this.pos), pos: start };
    }
    if (c === '(' || c === ')' || c === ',' || c === ';') {
      this.pos++;
      return { kind: 'punct', raw: c, pos: start };
    }
    this.fail(
      `unexpected character '${c}' at position ${start + 1}. Keys with spaces or special characters must be ` +
        'wrapped in backticks or double quotes (e.g. metrics.`my-metric`), and string values in quotes',
    );
  }

  /** An identifier: segments (bare words or quoted names) joined by dots, e.g. tags.`mlflow.note`. */
  private path(): Token {
    const start = this.pos;
    const segments: Segment[] = [];
    for (;;) {
      const c = this.text[this.pos];
      if (c === '"' || c === '`' || (c === "'" && segments.length > 0)) {
        segments.push({ text: this.quoted(c), quote: c });
      } else if (c !== undefined && WORD_CHAR.test(c) && (segments.length > 0 || WORD_START.test(c))) {
        const wordStart = this.pos;
        while (this.pos < this.text.length && WORD_CHAR.test(this.text[this.pos]!)) this.pos++;
        segments.push({ text: this.text.slice(wordStart, this.pos), quote: '' });
      } else {
        this.fail(`expected a key after '${this.text.slice(start, this.pos)}' at position ${this.pos + 1}`);
      }
      if (this.text[this.pos] !== '.') break;
      this.pos++;
    }
    const raw = this.text.slice(start, this.pos);
    const only = segments.length === 1 ? segments[0]! : undefined;
    if (only && only.quote === '') {
      const word = only.text.toUpperCase() as Keyword;
      if ((KEYWORDS as readonly string[]).includes(word)) return { kind: 'keyword', word, raw, pos: start };
    }
    if (only && only.quote === '"') return { kind: 'string', value: only.text, raw, pos: start };
    return { kind: 'path', segments, raw, pos: start };
  }

  /**
   * A quoted run of characters. A doubled quote or a backslash-escaped quote stands for the quote
   * itself (sqlparse accepts both forms; unlike MLflow we also unescape them, so `'it''s'` means it's).
   */
  private quoted(quote: string): string {
    const start = this.pos;
    let out = '';
    this.pos++;
    while (this.pos < this.text.length) {
      const c = this.text[this.pos]!;
      const next = this.text[this.pos + 1];
      if (c === quote && next === quote) {
        out += quote;
        this.pos += 2;
      } else if (c === '\\' && next === quote && quote !== '`') {
        out += quote;
        this.pos += 2;
      } else if (c === quote) {
        this.pos++;
        return out;
      } else {
        out += c;
        this.pos++;
      }
    }
    this.fail(`unterminated ${quote} quote starting at position ${start + 1}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Grammars: which identifiers, comparators and values each search accepts

interface AttributeSpec {
  /** Key reported in the clause (aliases such as `created` map to `start_time`). */
  canonical: string;
  numeric: boolean;
  comparators: readonly Comparator[];
}

interface FilterGrammar {
  /** Identifier prefix → clause type, e.g. `params` → parameter. */
  prefixes: Readonly<Record<string, ClauseType>>;
  /** How the error for an unknown prefix lists the valid ones (MLflow's wording differs per entity). */
  invalidPrefix: (prefix: string) => string;
  attributes: Readonly<Record<string, AttributeSpec>>;
  /** Comparators for the non-attribute types this grammar knows. */
  comparators: Partial<Record<ClauseType, readonly Comparator[]>>;
  /** Only these attributes may be compared with a list. */
  listAttributes: readonly string[];
}

const stringAttribute = (canonical: string, comparators: readonly Comparator[] = STRING_COMPARATORS): AttributeSpec => ({
  canonical,
  numeric: false,
  comparators,
});
const numericAttribute = (canonical: string): AttributeSpec => ({ canonical, numeric: true, comparators: NUMERIC_COMPARATORS });

const RUN_PREFIXES: Record<string, ClauseType> = {
  metric: 'metric',
  metrics: 'metric',
  parameter: 'parameter',
  parameters: 'parameter',
  param: 'parameter',
  params: 'parameter',
  tag: 'tag',
  tags: 'tag',
  attribute: 'attribute',
  attributes: 'attribute',
  attr: 'attribute',
  run: 'attribute',
  dataset: 'dataset',
  datasets: 'dataset',
};
const RUN_ENTITY_TYPES = "['metric', 'parameter', 'tag', 'attribute', 'dataset']";

/** MLflow's RunInfo searchable attributes plus its aliases (created, `Run name`). */
const RUN_ATTRIBUTES: Record<string, AttributeSpec> = {
  run_id: stringAttribute('run_id', STRING_OR_LIST_COMPARATORS),
  run_name: stringAttribute('run_name', STRING_OR_LIST_COMPARATORS),
  status: stringAttribute('status', STRING_OR_LIST_COMPARATORS),
  user_id: stringAttribute('user_id', STRING_OR_LIST_COMPARATORS),
  artifact_uri: stringAttribute('artifact_uri', STRING_OR_LIST_COMPARATORS),
  start_time: numericAttribute('start_time'),
  end_time: numericAttribute('end_time'),
  created: numericAttribute('start_time'),
  Created: numericAttribute('start_time'),
  'run name': stringAttribute('run_name', STRING_OR_LIST_COMPARATORS),
  'Run name': stringAttribute('run_name', STRING_OR_LIST_COMPARATORS),
  'Run Name': stringAttribute('run_name', STRING_OR_LIST_COMPARATORS),
};

const REGISTRY_PREFIXES: Record<string, ClauseType> = {
  attribute: 'attribute',
  attributes: 'attribute',
  tag: 'tag',
  tags: 'tag',
};
const registryPrefixError = (prefix: string): string =>
  `Invalid entity type '${prefix}'. Valid entity types are ('attribute', 'tag', 'tags')`;

const RUN_GRAMMAR: FilterGrammar = {
  prefixes: RUN_PREFIXES,
  invalidPrefix: (prefix) => `Invalid entity type '${prefix}'. Valid values are ${RUN_ENTITY_TYPES}`,
  attributes: RUN_ATTRIBUTES,
  comparators: {
    metric: NUMERIC_COMPARATORS,
    parameter: STRING_COMPARATORS,
    tag: STRING_COMPARATORS,
    dataset: STRING_OR_LIST_COMPARATORS,
  },
  listAttributes: ['run_id'],
};

const EXPERIMENT_GRAMMAR: FilterGrammar = {
  prefixes: REGISTRY_PREFIXES,
  invalidPrefix: registryPrefixError,
  attributes: {
    name: stringAttribute('name'),
    creation_time: numericAttribute('creation_time'),
    last_update_time: numericAttribute('last_update_time'),
  },
  comparators: { tag: STRING_COMPARATORS },
  listAttributes: [],
};

const REGISTERED_MODEL_GRAMMAR: FilterGrammar = {
  prefixes: REGISTRY_PREFIXES,
  invalidPrefix: registryPrefixError,
  attributes: { name: stringAttribute('name') },
  comparators: { tag: STRING_COMPARATORS },
  listAttributes: [],
};

/** MLflow 2.x SearchModelVersionUtils: IN (not NOT IN) for run_id only; version_number is numeric. */
const MODEL_VERSION_GRAMMAR: FilterGrammar = {
  prefixes: REGISTRY_PREFIXES,
  invalidPrefix: registryPrefixError,
  attributes: {
    name: stringAttribute('name'),
    run_id: stringAttribute('run_id', [...STRING_COMPARATORS, 'IN']),
    source_path: stringAttribute('source_path'),
    version_number: numericAttribute('version_number'),
  },
  comparators: { tag: STRING_COMPARATORS },
  listAttributes: ['run_id'],
};

const DATASET_KEYS = ['name', 'digest', 'context'];

/** Own-property lookup, so that names like `constructor` never reach Object.prototype. */
const lookup = <T>(table: Readonly<Record<string, T>>, key: string): T | undefined =>
  Object.hasOwn(table, key) ? table[key] : undefined;

// ---------------------------------------------------------------------------------------------
// Filter parser

export const parseRunFilter = (filter: string | undefined): Clause[] => parseFilter(filter, RUN_GRAMMAR);
export const parseExperimentFilter = (filter: string | undefined): Clause[] => parseFilter(filter, EXPERIMENT_GRAMMAR);
export const parseRegisteredModelFilter = (filter: string | undefined): Clause[] =>
  parseFilter(filter, REGISTERED_MODEL_GRAMMAR);
export const parseModelVersionFilter = (filter: string | undefined): Clause[] =>
  parseFilter(filter, MODEL_VERSION_GRAMMAR);

function parseFilter(filter: string | undefined, grammar: FilterGrammar): Clause[] {
  if (!filter || filter.trim() === '') return [];
  const syntaxError = (message: string): never => {
    throw invalidParameter(`Invalid filter '${filter}': ${message}`);
  };
  return new FilterParser(filter, new Lexer(filter, syntaxError).tokenize(), grammar, syntaxError).parse();
}

const describeToken = (token: Token | undefined): string => (token ? `'${token.raw}'` : 'the end of the filter');

class FilterParser {
  private index = 0;

  constructor(
    private readonly filter: string,
    private readonly tokens: Token[],
    private readonly grammar: FilterGrammar,
    private readonly syntaxError: (message: string) => never,
  ) {}

  parse(): Clause[] {
    const clauses = [this.clause()];
    for (;;) {
      const token = this.tokens[this.index];
      if (token === undefined) return clauses;
      if (token.kind === 'keyword' && token.word === 'AND') {
        this.index++;
        clauses.push(this.clause());
        continue;
      }
      if (token.kind === 'keyword' && token.word === 'OR') {
        throw invalidParameter(
          `Invalid clause(s) in filter string: 'OR' at position ${token.pos + 1} in '${this.filter}'. ` +
            'Only AND is supported to combine clauses.',
        );
      }
      if (token.kind === 'punct' && token.raw === ';') {
        throw invalidParameter(
          `Search filter contained multiple expression '${this.filter}'. Provide AND-ed expression list.`,
        );
      }
      this.expected('AND between clauses', token);
    }
  }

  private expected(what: string, token: Token | undefined): never {
    const where = token ? ` at position ${token.pos + 1}` : '';
    return this.syntaxError(`expected ${what}${where}, found ${describeToken(token)}`);
  }

  private clause(): Clause {
    const identifier = this.tokens[this.index++];
    if (identifier?.kind !== 'path') {
      // A bare double-quoted name lexes as a string; as the left side it is an attribute key.
      if (identifier?.kind === 'string' && identifier.raw.startsWith('"')) {
        return this.comparison(identifier, [{ text: identifier.value, quote: '"' }]);
      }
      return this.expected(
        'an identifier such as metrics.<key>, params.<key>, tags.<key> or attributes.<name>',
        identifier,
      );
    }
    return this.comparison(identifier, identifier.segments);
  }

  private comparison(identifier: Token, segments: Segment[]): Clause {
    const { type, key, attribute } = resolveIdentifier(segments, this.grammar);
    const comparator = this.comparator();
    const allowed = attribute ? attribute.comparators : (this.grammar.comparators[type] ?? []);
    if (!allowed.includes(comparator)) {
      const list = allowed.map((c) => `'${c}'`).join(', ');
      throw invalidParameter(`Invalid comparator '${comparator}' for ${identifier.raw}, not one of ${list}`);
    }
    if (comparator === 'IN' || comparator === 'NOT IN') {
      if (type === 'attribute' && !this.grammar.listAttributes.includes(key)) {
        throw invalidParameter(
          "Only the 'run_id' attribute supports comparison with a list of quoted string values.",
        );
      }
      return { type, key, comparator, value: this.list() };
    }
    const valueToken = this.tokens[this.index++];
    if (valueToken?.kind === 'punct' && valueToken.raw === '(') {
      throw invalidParameter(
        `A list of values can only be compared with IN or NOT IN, not '${comparator}' (in '${this.filter}')`,
      );
    }
    const numeric = type === 'metric' || (attribute?.numeric ?? false);
    const value = numeric ? this.numericValue(type, key, valueToken) : this.stringValue(type, valueToken);
    return { type, key, comparator, value };
  }

  private comparator(): Comparator {
    const token = this.tokens[this.index++];
    if (token?.kind === 'operator') {
      if (!(NUMERIC_COMPARATORS as readonly string[]).includes(token.raw)) {
        throw invalidParameter(
          `Invalid comparator '${token.raw}' at position ${token.pos + 1} in '${this.filter}', ` +
            "not one of '=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'IN', 'NOT IN'",
        );
      }
      return token.raw as NumericComparator;
    }
    if (token?.kind === 'keyword') {
      if (token.word === 'LIKE' || token.word === 'ILIKE' || token.word === 'IN') return token.word;
      const following = this.tokens[this.index];
      if (token.word === 'NOT' && following?.kind === 'keyword' && following.word === 'IN') {
        this.index++;
        return 'NOT IN';
      }
      if (token.word === 'NOT' && following?.kind === 'keyword') {
        throw invalidParameter(
          `Invalid comparator 'NOT ${following.word}' in '${this.filter}'; ` +
            "use '!=' to negate an equality, there is no NOT LIKE",
        );
      }
    }
    return this.expected("a comparator ('=', '!=', '<', '<=', '>', '>=', 'LIKE', 'ILIKE', 'IN', 'NOT IN')", token);
  }

  private numericValue(type: ClauseType, key: string, token: Token | undefined): number {
    if (token?.kind === 'number') return token.value;
    // MLflow compares a quoted version_number against the INTEGER column, where SQLite coerces it.
    if (token?.kind === 'string' && key === 'version_number' && /^\s*-?\d+\s*$/.test(token.value)) {
      return Number(token.value);
    }
    if (token === undefined) return this.expected('a number', token);
    if (type === 'metric') throw invalidParameter(`Expected numeric value type for metric. Found ${token.raw}`);
    throw invalidParameter(`Expected numeric value type for numeric attribute: ${key}. Found ${token.raw}`);
  }

  private stringValue(type: ClauseType, token: Token | undefined): string {
    if (token?.kind === 'string') return token.value;
    if (token === undefined) return this.expected('a quoted string value', token);
    if (token.kind === 'path' || token.kind === 'keyword') {
      throw invalidParameter(
        `Parameter value is either not quoted or unidentified quote types used for string value ${token.raw}. ` +
          'Use either single or double quotes.',
      );
    }
    const subject = type === 'attribute' ? 'attributes' : type === 'dataset' ? 'dataset attributes' : type;
    throw invalidParameter(`Expected a quoted string value for ${subject} (e.g. 'my-value'). Got value ${token.raw}`);
  }

  /** `('a', 'b', ...)`: a parenthesized, non-empty list of quoted strings. */
  private list(): string[] {
    const open = this.tokens[this.index++];
    if (!(open?.kind === 'punct' && open.raw === '(')) {
      return this.expected("a parenthesized list of quoted strings such as ('a', 'b') after IN", open);
    }
    const values: string[] = [];
    for (;;) {
      const token = this.tokens[this.index++];
      if (token?.kind === 'punct' && token.raw === ')' && values.length === 0) {
        throw invalidParameter(
          'While parsing a list in the query, expected a non-empty list of string values, but got empty list',
        );
      }
      if (token?.kind !== 'string') {
        throw invalidParameter(
          'While parsing a list in the query, expected string value, punctuation, or whitespace, ' +
            `but got different type in list: ${describeToken(token)} in '${this.filter}'`,
        );
      }
      values.push(token.value);
      const separator = this.tokens[this.index++];
      if (separator?.kind === 'punct' && separator.raw === ')') return values;
      if (!(separator?.kind === 'punct' && separator.raw === ',')) {
        throw invalidParameter(
          'While parsing a list in the query, expected a non-empty list of string values, but got ill-formed ' +
            `list: expected ',' or ')' at ${describeToken(separator)} in '${this.filter}'`,
        );
      }
    }
  }
}

interface ResolvedIdentifier {
  type: ClauseType;
  key: string;
  attribute: AttributeSpec | undefined;
}

/**
 * `metrics.acc` → (metric, acc); `status` → (attribute, status); keys after the first dot keep their
 * dots (`tags.mlflow.runName`), and quoted segments lose their quotes.
 */
function resolveIdentifier(segments: Segment[], grammar: FilterGrammar): ResolvedIdentifier {
  const [first, ...rest] = segments;
  let type: ClauseType = 'attribute';
  let key = first!.text;
  if (rest.length > 0) {
    const prefix = first!.text;
    const prefixType = first!.quote === '' || first!.quote === '`' ? lookup(grammar.prefixes, prefix) : undefined;
    if (prefixType === undefined) throw invalidParameter(grammar.invalidPrefix(prefix));
    type = prefixType;
    key = rest.map((segment) => segment.text).join('.');
  }
  if (key === '') throw invalidParameter(`Invalid identifier '${segments.map((s) => s.text).join('.')}': empty key`);
  if (type === 'attribute') {
    const attribute = lookup(grammar.attributes, key);
    if (!attribute) {
      throw invalidParameter(
        `Invalid attribute key '${key}' specified. Valid keys are '${validKeys(grammar.attributes)}'`,
      );
    }
    return { type, key: attribute.canonical, attribute };
  }
  if (type === 'dataset' && !DATASET_KEYS.includes(key)) {
    throw invalidParameter(`Invalid dataset key '${key}' specified. Valid keys are '${DATASET_KEYS.join("', '")}'`);
  }
  return { type, key, attribute: undefined };
}

const validKeys = (attributes: Readonly<Record<string, AttributeSpec>>): string =>
  Object.keys(attributes).sort().join("', '");

// ---------------------------------------------------------------------------------------------
// order_by

interface OrderByGrammar {
  prefixes: Readonly<Record<string, ClauseType>>;
  invalidPrefix: (prefix: string) => string;
  /** Attribute name (or alias) → canonical key. */
  attributes: Readonly<Record<string, string>>;
  invalidAttribute: (key: string) => string;
  /** Types other than attribute that may be ordered by (runs: metric, parameter, tag). */
  orderable: readonly ClauseType[];
}

const keyList = (keys: Readonly<Record<string, string>>): string => `'${Object.keys(keys).sort().join("', '")}'`;

const RUN_ORDER_ATTRIBUTES: Record<string, string> = {
  run_id: 'run_id',
  run_name: 'run_name',
  status: 'status',
  user_id: 'user_id',
  artifact_uri: 'artifact_uri',
  start_time: 'start_time',
  end_time: 'end_time',
  created: 'start_time',
  Created: 'start_time',
};
const EXPERIMENT_ORDER_ATTRIBUTES: Record<string, string> = {
  name: 'name',
  experiment_id: 'experiment_id',
  creation_time: 'creation_time',
  last_update_time: 'last_update_time',
};
/** MLflow's SQL store orders models by name or `timestamp` (its alias for last_updated_timestamp). */
const REGISTERED_MODEL_ORDER_ATTRIBUTES: Record<string, string> = {
  name: 'name',
  timestamp: 'last_updated_timestamp',
  last_updated_timestamp: 'last_updated_timestamp',
  creation_timestamp: 'creation_timestamp',
};
const MODEL_VERSION_ORDER_ATTRIBUTES: Record<string, string> = {
  name: 'name',
  version_number: 'version_number',
  creation_timestamp: 'creation_timestamp',
  last_updated_timestamp: 'last_updated_timestamp',
};

const ORDER_BY_GRAMMARS: Record<SearchEntity, OrderByGrammar> = {
  run: {
    prefixes: RUN_PREFIXES,
    invalidPrefix: RUN_GRAMMAR.invalidPrefix,
    attributes: RUN_ORDER_ATTRIBUTES,
    invalidAttribute: (key) => `Invalid attribute key '${key}' specified. Valid keys are ${keyList(RUN_ORDER_ATTRIBUTES)}`,
    orderable: ['metric', 'parameter', 'tag'],
  },
  experiment: {
    prefixes: REGISTRY_PREFIXES,
    invalidPrefix: registryPrefixError,
    attributes: EXPERIMENT_ORDER_ATTRIBUTES,
    invalidAttribute: (key) =>
      `Invalid attribute key '${key}' specified. Valid keys are ${keyList(EXPERIMENT_ORDER_ATTRIBUTES)}`,
    orderable: [],
  },
  registered_model: {
    prefixes: REGISTRY_PREFIXES,
    invalidPrefix: registryPrefixError,
    attributes: REGISTERED_MODEL_ORDER_ATTRIBUTES,
    invalidAttribute: (key) =>
      `Invalid order by key '${key}' specified. Valid keys are ${keyList(REGISTERED_MODEL_ORDER_ATTRIBUTES)}`,
    orderable: [],
  },
  model_version: {
    prefixes: REGISTRY_PREFIXES,
    invalidPrefix: registryPrefixError,
    attributes: MODEL_VERSION_ORDER_ATTRIBUTES,
    invalidAttribute: (key) =>
      `Invalid order by key '${key}' specified. Valid keys are ${keyList(MODEL_VERSION_ORDER_ATTRIBUTES)}`,
    orderable: [],
  },
};

/** Parses one order_by entry, `<identifier> [ASC|DESC]` (ascending when the direction is omitted). */
export function parseOrderBy(clause: string, entity: SearchEntity): OrderByTerm {
  const grammar = ORDER_BY_GRAMMARS[entity];
  const unparsable = (): never => {
    throw invalidParameter(`Invalid order_by clause '${clause}'. Could not be parsed.`);
  };
  const tokens = new Lexer(clause, unparsable).tokenize();
  const [identifier, direction, extra] = tokens;
  if (identifier === undefined || extra !== undefined) return unparsable();

  let ascending = true;
  if (direction !== undefined) {
    const word = direction.kind === 'keyword' ? direction.word : direction.raw.toUpperCase();
    if (word !== 'ASC' && word !== 'DESC') {
      throw invalidParameter(
        `Invalid ordering key in order_by clause '${clause}': expected ASC or DESC, found '${direction.raw}'.`,
      );
    }
    ascending = word === 'ASC';
  }
  return { ...orderByIdentifier(identifier, grammar, unparsable), ascending };
}

function orderByIdentifier(
  token: Token,
  grammar: OrderByGrammar,
  unparsable: () => never,
): Omit<OrderByTerm, 'ascending'> {
  let segments: Segment[];
  if (token.kind === 'path') segments = token.segments;
  else if (token.kind === 'string' && token.raw.startsWith('"')) {
    // MLflow shlex-splits order_by, so a wholly quoted "metrics.my metric" names metric `my metric`.
    const dot = token.value.indexOf('.');
    segments =
      dot > 0
        ? [
            { text: token.value.slice(0, dot), quote: '' },
            { text: token.value.slice(dot + 1), quote: '"' },
          ]
        : [{ text: token.value, quote: '"' }];
  } else if (token.kind === 'keyword' && (token.word === 'ASC' || token.word === 'DESC')) {
    return unparsable();
  } else if (token.kind === 'keyword') {
    segments = [{ text: token.raw, quote: '' }];
  } else return unparsable();

  const [first, ...rest] = segments;
  let type: ClauseType = 'attribute';
  let key = first!.text;
  if (rest.length > 0) {
    const prefixType = first!.quote === '"' ? undefined : lookup(grammar.prefixes, first!.text);
    if (prefixType === undefined) throw invalidParameter(grammar.invalidPrefix(first!.text));
    type = prefixType;
    key = rest.map((segment) => segment.text).join('.');
  }
  if (type === 'attribute') {
    const canonical = lookup(grammar.attributes, key);
    if (canonical === undefined) throw invalidParameter(grammar.invalidAttribute(key));
    return { type, key: canonical };
  }
  if (type === 'dataset' || !grammar.orderable.includes(type)) {
    throw invalidParameter(`Invalid order_by entity: ${type}`);
  }
  if (key === '') return unparsable();
  return { type: type as OrderByTerm['type'], key };
}
