/**
 * A deterministic crypto/stock market-data database: the restore-fidelity fixture of the tests
 * and the source database of the benchmark. Every object kind a restore can get wrong is here
 * (enums, a domain, partitions with a default, FKs, partial index, CHECK, trigger + function,
 * view, populated materialized view, a quoted mixed-case schema/table, jsonb, arrays, unicode,
 * advanced sequences). Data is generated server-side with generate_series and hashint8 noise,
 * so the same scale always yields byte-identical rows, independently of query plans.
 */
import { connect } from './pg.ts';

export type SampleScale = 'test' | 'demo' | 'bench' | number;

export interface SampleOptions {
  /** 'test' ≈ 3k candles (< 2 s), 'demo' ≈ 100k, 'bench' ≈ 1 GB database, or a candle count. */
  readonly scale: SampleScale;
  /**
   * The platform's real shape on TimescaleDB: candles and indicators as hypertables (weekly and
   * monthly chunks), candles' chunks older than a month before DATA_END compressed (segmentby
   * symbol_id), a continuous aggregate with a refresh policy, and compression and retention
   * policy jobs. Needs a server with `shared_preload_libraries = 'timescaledb'`.
   * @default false - declaratively partitioned candles on plain PostgreSQL
   */
  readonly timescale?: boolean;
}

export interface SampleSize {
  readonly symbols: number;
  /** Candles per symbol; candles = symbols × steps. */
  readonly steps: number;
  readonly candles: number;
}

export interface SampleDatabaseInfo extends SampleSize {
  readonly elapsedMs: number;
  /** pg_database_size after VACUUM ANALYZE. */
  readonly sizeBytes: number;
}

/** All rows are timed in [DATA_START, DATA_END): before the fixed anchor, never relative to now(). */
export const DATA_START = '2025-07-20T00:00:00Z';
export const DATA_END = '2026-02-01T00:00:00Z';

/** Monthly partitions of candles; rows before 2025-08 land in candles_default. */
export const CANDLE_PARTITIONS = [
  'candles_2025_08', 'candles_2025_09', 'candles_2025_10',
  'candles_2025_11', 'candles_2025_12', 'candles_2026_01',
] as const;

/** Every table holding data, schema-qualified and quoted as in SQL (partitions excluded). */
export const SAMPLE_TABLES = [
  'public.symbols', 'public.candles', 'public.indicators', 'public.ml_features',
  'public.alerts', 'public.audit_logs', '"Reporting"."Daily Summary"',
] as const;

export const SAMPLE_VIEWS = { view: 'public.latest_prices', materializedView: 'public.daily_volume' } as const;

/** The TimescaleDB sample's hypertables, continuous aggregate and compression cut-off. */
export const TIMESCALE_SAMPLE = {
  hypertables: ['public.candles', 'public.indicators'],
  continuousAggregate: 'public.candles_daily',
  /** Chunks of candles ending at or before this are compressed (a month before DATA_END). */
  compressedBefore: '2026-01-01T00:00:00Z',
  candleChunkInterval: '7 days',
} as const;

/**
 * Policy jobs start far in the future: the data's clock is fixed (DATA_END) and not today's, so a
 * running scheduler must not compress or drop chunks under a test. They are scheduled all the same.
 */
const POLICY_START = `'2100-01-01 00:00:00+00'`;

/** Symbols written by hand for their unicode names; the rest are generated. */
const NAMED_SYMBOLS: ReadonlyArray<readonly [ticker: string, name: string, assetClass: 'crypto' | 'stock' | 'etf', base: number]> = [
  ['BTC-USD', 'Bitcoin ₿', 'crypto', 65000],
  ['ETH-USD', 'Ethereum Ξ', 'crypto', 3200],
  ['BTC-CNY', '比特币', 'crypto', 470000],
  ['SOL-USD', 'Solana ◎', 'crypto', 150],
  ['DOGE-USD', 'Dogecoin 🐕', 'crypto', 0.12345678],
  ['GLE.PA', 'Société Générale', 'stock', 24.5],
  ['NESN.SW', 'Nestlé S.A.', 'stock', 92.3],
  ['MUV2.DE', 'Münchener Rück', 'stock', 480],
  ['7203.T', 'トヨタ自動車', 'stock', 2900],
  ['005930.KS', '삼성전자', 'stock', 71000],
  ['SPY', 'SPDR S&P 500 ETF Trust', 'etf', 560],
  ['QQQ', 'Invesco QQQ — Nasdaq-100', 'etf', 480],
];

const BENCH_CANDLES = 6_000_000;

export function sampleSize(scale: SampleScale): SampleSize {
  const candles = scale === 'test' ? 3_000 : scale === 'demo' ? 100_000 : scale === 'bench' ? BENCH_CANDLES : scale;
  if (!Number.isInteger(candles) || candles < NAMED_SYMBOLS.length) {
    throw new Error(`sample scale must be 'test', 'demo', 'bench' or an integer ≥ ${NAMED_SYMBOLS.length}, got ${scale}`);
  }
  // More symbols at larger scales keeps the per-symbol step (the candle interval) realistic.
  const symbols = candles <= 10_000 ? NAMED_SYMBOLS.length : candles <= 1_000_000 ? 50 : 200;
  const steps = Math.max(1, Math.floor(candles / symbols));
  return { symbols, steps, candles: symbols * steps };
}

/** Uniform noise in [0, 1) from integers, via the server's hashint8: deterministic and plan-independent. */
const noise = (expr: string) => `((hashint8(${expr})::float8 + 2147483648) / 4294967296)`;

function schemaSql(timescale: boolean): string[] {
  const partitions = timescale ? [] : CANDLE_PARTITIONS.map((name) => {
    const [, y, m] = name.split('_');
    const from = `${y}-${m}-01`;
    const next = Number(m) === 12 ? `${Number(y) + 1}-01-01` : `${y}-${String(Number(m) + 1).padStart(2, '0')}-01`;
    return `CREATE TABLE ${name} PARTITION OF candles FOR VALUES FROM ('${from} 00:00:00+00') TO ('${next} 00:00:00+00')`;
  });
  return [
    `CREATE TYPE asset_class AS ENUM ('crypto', 'stock', 'etf')`,
    `CREATE TYPE alert_severity AS ENUM ('info', 'warning', 'critical')`,
    `CREATE DOMAIN ticker_text AS text CHECK (VALUE ~ '^[A-Z0-9.\\-]{1,16}$')`,
    `CREATE TABLE symbols (
       id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
       ticker ticker_text NOT NULL UNIQUE,
       name text NOT NULL,
       asset_class asset_class NOT NULL,
       base_price numeric(20,8) NOT NULL,
       listed_on date NOT NULL
     )`,
    `COMMENT ON TABLE symbols IS 'Tradable instruments — crypto pairs, stocks and ETFs'`,
    `CREATE TABLE candles (
       symbol_id integer NOT NULL,
       time timestamptz NOT NULL,
       open numeric(20,8) NOT NULL,
       high numeric(20,8) NOT NULL,
       low numeric(20,8) NOT NULL,
       close numeric(20,8) NOT NULL,
       volume numeric(20,8) NOT NULL
     )${timescale ? '' : ' PARTITION BY RANGE (time)'}`,
    ...partitions,
    ...(timescale
      ? [`SELECT create_hypertable('candles', by_range('time', INTERVAL '${TIMESCALE_SAMPLE.candleChunkInterval}'))`]
      : [`CREATE TABLE candles_default PARTITION OF candles DEFAULT`]),
    `CREATE TABLE indicators (
       time timestamptz NOT NULL,
       symbol_id integer NOT NULL,
       name text NOT NULL,
       value double precision,
       params jsonb NOT NULL
     )`,
    ...(timescale ? [`SELECT create_hypertable('indicators', by_range('time', INTERVAL '30 days'))`] : []),
    `CREATE TABLE ml_features (
       id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
       symbol_id integer NOT NULL,
       time timestamptz NOT NULL,
       features jsonb NOT NULL,
       embedding float8[] NOT NULL,
       score numeric(12,6),
       tags text[] NOT NULL DEFAULT '{}'
     )`,
    `CREATE TABLE alerts (
       id serial PRIMARY KEY,
       symbol_id integer NOT NULL,
       severity alert_severity NOT NULL,
       message text NOT NULL,
       threshold numeric(20,8) NOT NULL,
       created_at timestamptz NOT NULL,
       acknowledged boolean NOT NULL DEFAULT false,
       CONSTRAINT alerts_threshold_positive CHECK (threshold > 0)
     )`,
    `CREATE TABLE audit_logs (
       id bigserial PRIMARY KEY,
       occurred_at timestamptz NOT NULL,
       actor text NOT NULL,
       action text NOT NULL,
       details jsonb NOT NULL DEFAULT '{}'
     )`,
    // Deterministic on purpose: the audit time derives from the row, not now().
    `CREATE FUNCTION audit_alert_change() RETURNS trigger LANGUAGE plpgsql AS $$
     BEGIN
       INSERT INTO audit_logs (occurred_at, actor, action, details)
       VALUES (NEW.created_at + CASE WHEN TG_OP = 'UPDATE' THEN interval '1 hour' ELSE interval '0' END,
               'alert-engine', TG_OP || ' alert',
               jsonb_build_object('alert_id', NEW.id, 'severity', NEW.severity, 'acknowledged', NEW.acknowledged));
       RETURN NEW;
     END $$`,
    `CREATE SEQUENCE order_ref_seq START 1000 INCREMENT 7`,
    `CREATE SCHEMA "Reporting"`,
    `CREATE TABLE "Reporting"."Daily Summary" (
       "Day" date NOT NULL,
       "Ticker" text NOT NULL,
       "Close Price" numeric(20,8) NOT NULL,
       "Note" text,
       PRIMARY KEY ("Day", "Ticker")
     )`,
  ];
}

function dataSql(size: SampleSize): string[] {
  const stepSeconds = Math.floor((Date.parse(DATA_END) - Date.parse(DATA_START)) / 1000 / size.steps);
  const values = NAMED_SYMBOLS.map(([t, n, c, b]) => `('${t}', '${n.replace(/'/g, "''")}', '${c}'::asset_class, ${b})`).join(',\n');
  const generated = size.symbols - NAMED_SYMBOLS.length;
  const at = (step: string) => `timestamptz '${DATA_START}' + (${step}) * interval '${stepSeconds} seconds'`;
  return [
    `INSERT INTO symbols (ticker, name, asset_class, base_price, listed_on)
     SELECT t, n, c, b, date '2010-01-04' + (row_number() OVER ())::int * 97 FROM (VALUES ${values}) v(t, n, c, b)`,
    `INSERT INTO symbols (ticker, name, asset_class, base_price, listed_on)
     SELECT 'SYN' || lpad(i::text, 4, '0'), 'Synthetic asset n°' || i || ' – Ω', (ARRAY['crypto','stock','etf']::asset_class[])[1 + i % 3],
            round((5 + ${noise('i')} * 500)::numeric, 8), date '2015-06-01' + i
     FROM generate_series(1, ${generated}) i`,
    // A slow sine trend plus hash noise around each symbol's base price; high/low bracket open and close.
    `INSERT INTO candles (symbol_id, time, open, high, low, close, volume)
     SELECT s.id, ${at('g.i')},
            round(o.open::numeric, 8),
            round((greatest(o.open, p.close) * (1 + ${noise('g.i * 8 + s.id * 1000003 + 2')} * 0.006))::numeric, 8),
            round((least(o.open, p.close) * (1 - ${noise('g.i * 8 + s.id * 1000003 + 3')} * 0.006))::numeric, 8),
            round(p.close::numeric, 8),
            round((100 + ${noise('g.i * 8 + s.id * 1000003 + 4')} * 250000)::numeric, 8)
     FROM symbols s
     CROSS JOIN generate_series(0, ${size.steps - 1}) g(i)
     CROSS JOIN LATERAL (SELECT s.base_price::float8 * (1 + 0.15 * sin(g.i / 400.0 + s.id) + 0.02 * sin(g.i / 13.0)) AS close) p
     CROSS JOIN LATERAL (SELECT p.close * (1 + (${noise('g.i * 8 + s.id * 1000003 + 1')} - 0.5) * 0.01) AS open) o`,
    `INSERT INTO indicators (time, symbol_id, name, value, params)
     SELECT ${at('g.i')}, s.id, n.name,
            CASE n.name WHEN 'rsi_14' THEN 50 + 45 * sin(g.i / 37.0 + s.id) ELSE s.base_price::float8 * (1 + 0.1 * sin(g.i / 400.0 + s.id)) END,
            n.params
     FROM symbols s
     CROSS JOIN generate_series(0, ${size.steps - 1}, 4) g(i)
     CROSS JOIN (VALUES ('rsi_14', '{"period": 14, "source": "close"}'::jsonb),
                        ('ema_50', '{"period": 50, "source": "close", "smoothing": 2.0}'::jsonb)) n(name, params)
     WHERE (g.i / 4 + s.id) % 2 = 0`,
    `INSERT INTO ml_features (symbol_id, time, features, embedding, score, tags)
     SELECT s.id, ${at('g.i')},
            jsonb_build_object('momentum', round(${noise('g.i * 4 + s.id * 7919')}::numeric, 6),
                               'regime', (ARRAY['bull', 'bear', 'sideways ↔'])[1 + g.i % 3],
                               'window', jsonb_build_object('size', 24, 'unit', 'h'), 'flags', jsonb_build_array(g.i % 2 = 0, null)),
            ARRAY(SELECT round(${noise('g.i * 64 + s.id * 7919 + k')}::numeric, 6)::float8 FROM generate_series(1, 8) k),
            CASE WHEN g.i % 17 = 0 THEN NULL ELSE round((${noise('g.i * 3 + s.id')} * 100)::numeric, 6) END,
            CASE g.i % 4 WHEN 0 THEN ARRAY['momentum', 'high-vol'] WHEN 1 THEN ARRAY['mean-reversion'] WHEN 2 THEN ARRAY['🚀', 'moon'] ELSE '{}' END
     FROM symbols s CROSS JOIN generate_series(0, ${size.steps - 1}, 50) g(i)`,
    // The trigger is in place before alerts are written, so audit_logs gets its rows through it.
    `CREATE TRIGGER alerts_audit AFTER INSERT OR UPDATE ON alerts FOR EACH ROW EXECUTE FUNCTION audit_alert_change()`,
    `INSERT INTO alerts (symbol_id, severity, message, threshold, created_at, acknowledged)
     SELECT s.id, (ARRAY['info', 'warning', 'critical']::alert_severity[])[1 + (g.i + s.id) % 3],
            (ARRAY['Price crossed threshold ↑', 'Volume spike 📈', 'Écart de cotation anormal', '价格异常波动'])[1 + g.i % 4]
              || ' #' || g.i,
            round((s.base_price * (1 + ${noise('g.i * 13 + s.id')} * 0.1))::numeric, 8),
            ${at('g.i')}, false
     FROM symbols s CROSS JOIN generate_series(0, ${size.steps - 1}, 250) g(i)`,
    `UPDATE alerts SET acknowledged = true WHERE id % 3 <> 0`,
    `INSERT INTO audit_logs (occurred_at, actor, action, details)
     SELECT ${at('g.i')}, (ARRAY['José Müller', '李雷', 'ops-bot 🤖', 'Zoë O''Brien'])[1 + g.i % 4],
            (ARRAY['login', 'export', 'config change'])[1 + g.i % 3],
            jsonb_build_object('ip', '10.0.' || (g.i % 256) || '.' || (g.i * 7 % 256), 'note', 'naïve façade — ok')
     FROM generate_series(0, ${size.steps - 1}, 25) g(i)`,
    `SELECT setval('order_ref_seq', 1000 + 7 * ${size.steps})`,
    `INSERT INTO "Reporting"."Daily Summary" ("Day", "Ticker", "Close Price", "Note")
     SELECT DISTINCT ON (day, s.ticker) day, s.ticker, c.close,
            CASE WHEN s.id % 2 = 0 THEN 'Clôture — ' || s.name ELSE NULL END
     FROM candles c JOIN symbols s ON s.id = c.symbol_id
     CROSS JOIN LATERAL (SELECT (c.time AT TIME ZONE 'UTC')::date AS day) d
     WHERE s.id <= 5
     ORDER BY day, s.ticker, c.time DESC`,
  ];
}

/** Indexes and constraints come after the load: one sort per index beats row-by-row maintenance. */
function postDataSql(): string[] {
  return [
    `ALTER TABLE candles ADD PRIMARY KEY (symbol_id, time)`,
    `ALTER TABLE candles ADD CONSTRAINT candles_symbol_fk FOREIGN KEY (symbol_id) REFERENCES symbols (id)`,
    `ALTER TABLE candles ADD CONSTRAINT candles_high_low CHECK (high >= low)`,
    `CREATE INDEX indicators_symbol_name_time ON indicators (symbol_id, name, time)`,
    `ALTER TABLE indicators ADD CONSTRAINT indicators_symbol_fk FOREIGN KEY (symbol_id) REFERENCES symbols (id)`,
    `ALTER TABLE ml_features ADD CONSTRAINT ml_features_symbol_fk FOREIGN KEY (symbol_id) REFERENCES symbols (id)`,
    `CREATE INDEX ml_features_features_gin ON ml_features USING gin (features jsonb_path_ops)`,
    `ALTER TABLE alerts ADD CONSTRAINT alerts_symbol_fk FOREIGN KEY (symbol_id) REFERENCES symbols (id) ON DELETE CASCADE`,
    `CREATE INDEX alerts_unacknowledged ON alerts (symbol_id, created_at) WHERE NOT acknowledged`,
    `CREATE INDEX audit_logs_occurred_at ON audit_logs (occurred_at)`,
    `CREATE VIEW latest_prices AS
       SELECT DISTINCT ON (c.symbol_id) s.ticker, s.name, s.asset_class, c.time, c.close
       FROM candles c JOIN symbols s ON s.id = c.symbol_id
       ORDER BY c.symbol_id, c.time DESC`,
    `CREATE MATERIALIZED VIEW daily_volume AS
       SELECT symbol_id, (time AT TIME ZONE 'UTC')::date AS day, sum(volume) AS volume, count(*) AS candles
       FROM candles GROUP BY 1, 2
       WITH DATA`,
    `CREATE UNIQUE INDEX daily_volume_symbol_day ON daily_volume (symbol_id, day)`,
  ];
}

/** Compression of older candles chunks and the policy jobs, inside the load's transaction. */
function timescaleSql(): string[] {
  return [
    `ALTER TABLE candles SET (timescaledb.compress, timescaledb.compress_segmentby = 'symbol_id', timescaledb.compress_orderby = 'time DESC')`,
    `SELECT compress_chunk(c) FROM show_chunks('candles', older_than => timestamptz '${TIMESCALE_SAMPLE.compressedBefore}') c`,
    `SELECT add_compression_policy('candles', compress_after => INTERVAL '30 days', initial_start => ${POLICY_START})`,
    `SELECT add_retention_policy('indicators', drop_after => INTERVAL '10 years', initial_start => ${POLICY_START})`,
  ];
}

/** A continuous aggregate cannot be created or refreshed inside a transaction block. */
function continuousAggregateSql(): string[] {
  return [
    `CREATE MATERIALIZED VIEW candles_daily WITH (timescaledb.continuous, timescaledb.materialized_only = true) AS
       SELECT time_bucket(INTERVAL '1 day', time) AS bucket, symbol_id,
              first(open, time) AS open, max(high) AS high, min(low) AS low, last(close, time) AS close, sum(volume) AS volume
       FROM candles GROUP BY bucket, symbol_id WITH NO DATA`,
    `CALL refresh_continuous_aggregate('candles_daily', timestamptz '${DATA_START}', timestamptz '${DATA_END}')`,
    `SELECT add_continuous_aggregate_policy('candles_daily', start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
       schedule_interval => INTERVAL '1 hour', initial_start => ${POLICY_START})`,
  ];
}

/**
 * Creates the sample schema and data in `url`, an existing empty database, in one transaction
 * (a failure leaves it empty), then VACUUM ANALYZEs it so dumps read settled pages. With
 * `timescale`, the continuous aggregate follows the transaction (TimescaleDB refuses it inside one).
 */
export async function createSampleDatabase(url: string, options: SampleOptions): Promise<SampleDatabaseInfo> {
  const size = sampleSize(options.scale);
  const started = Date.now();
  const client = await connect(url);
  try {
    await client.query(`SET synchronous_commit = off; SET maintenance_work_mem = '512MB'; SET TimeZone = 'UTC'`);
    const timescale = options.timescale ?? false;
    if (timescale) await client.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
    await client.query('BEGIN');
    for (const sql of [...schemaSql(timescale), ...dataSql(size), ...postDataSql(), ...(timescale ? timescaleSql() : [])]) await client.query(sql);
    await client.query('COMMIT');
    if (timescale) for (const sql of continuousAggregateSql()) await client.query(sql);
    await client.query('VACUUM ANALYZE');
    const { rows } = await client.query<{ size: string }>('SELECT pg_database_size(current_database()) AS size');
    return { ...size, elapsedMs: Date.now() - started, sizeBytes: Number(rows[0]!.size) };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    await client.end();
  }
}
