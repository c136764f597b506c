import mysql from 'mysql2/promise';
import { MYSQL_URL } from './env.js';

/**
 * A throwaway MariaDB/MySQL database for one test run (`walrelay_e2e_<unique>`; the
 * walrelay user may create walrelay% databases), and a connection helper.
 */
export class MysqlTestDatabase {
  readonly name: string;
  readonly url: string;

  constructor(id: string) {
    this.name = `walrelay_e2e_${id}`.slice(0, 64);
    const u = new URL(MYSQL_URL);
    u.pathname = `/${this.name}`;
    this.url = u.toString();
  }

  async create(): Promise<void> {
    const conn = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      await conn.query(`CREATE DATABASE \`${this.name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
    } finally {
      await conn.end();
    }
  }

  async drop(): Promise<void> {
    const conn = await mysql.createConnection({ uri: MYSQL_URL });
    try {
      await conn.query(`DROP DATABASE IF EXISTS \`${this.name}\``);
    } finally {
      await conn.end();
    }
  }

  /** Runs `fn` on a connection to this database (strings for dates and big numbers). */
  async with<T>(fn: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    const conn = await mysql.createConnection({ uri: this.url, dateStrings: true, supportBigNumbers: true, bigNumberStrings: true });
    try {
      return await fn(conn);
    } finally {
      await conn.end();
    }
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.with(async (conn) => {
      const [rows] = await conn.query(sql, params);
      return rows as T[];
    });
  }
}
