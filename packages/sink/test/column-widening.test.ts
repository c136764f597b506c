import { test } from 'node:test';
import assert from 'node:assert/strict';
import { needsWidening } from '../src/column-widening.js';

test('widening within a family, as MySQL/MariaDB and SQL Server spell their types', () => {
  const cases: [string, string, boolean][] = [
    ['int(11)', 'BIGINT', true],
    ['bigint(20)', 'BIGINT', false],
    ['smallint(6)', 'INT', true],
    ['INT', 'SMALLINT', false],
    ['tinyint(1)', 'SMALLINT', false], // BOOLEAN is not an integer column of ours
    ['float', 'DOUBLE', true],
    ['REAL', 'FLOAT(53)', true],
    ['FLOAT(53)', 'REAL', false],
    ['double', 'DOUBLE', false],
    ['decimal(6,2)', 'DECIMAL(14,2)', true],
    ['decimal(14,2)', 'DECIMAL(6,2)', false],
    ['decimal(6,2)', 'DECIMAL(6,2)', false],
    ['varchar(5)', 'VARCHAR(50)', true],
    ['varchar(50)', 'VARCHAR(5)', false],
    ['varchar(50)', 'LONGTEXT', true],
    ['text', 'VARCHAR(100)', false], // demoted for row size: TEXT already holds it
    ['mediumtext', 'LONGTEXT', true],
    ['NVARCHAR(20)', 'NVARCHAR(MAX)', true],
    ['NVARCHAR(MAX)', 'NVARCHAR(40)', false],
    ['datetime(3)', 'DATETIME(6)', true],
    ['DATETIME2(6)', 'DATETIME2(3)', false],
    ['time', 'TIME(6)', true],
    ['char(36)', 'VARCHAR(36)', false], // another family: left alone
    ['longtext', 'JSON', false],
    ['int(11)', 'VARCHAR(10)', false],
  ];
  for (const [current, wanted, expected] of cases) assert.equal(needsWidening(current, wanted), expected, `${current} -> ${wanted}`);
});
