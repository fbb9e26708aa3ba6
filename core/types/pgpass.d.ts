declare module 'pgpass' {
  /** Looks a password up in ~/.pgpass (or PGPASSFILE) the way libpq does. */
  export default function pgpass(
    connInfo: { host?: string; port?: string; database?: string; user?: string },
    callback: (password?: string) => void,
  ): void;
}
