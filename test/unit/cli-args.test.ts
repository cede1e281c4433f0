import { describe, expect, it } from 'vitest';
import {
  camelName,
  clusterBasePort,
  envName,
  nodeLayout,
  parseDuration,
  parseHostPort,
  parseQuorum,
  parseStartArgv,
  partitionPlan,
  resolveStartOptions,
  START_FLAGS,
  UsageError,
  validateNodeFlags,
} from '../../src/cli/args.js';
import { NODE_DEFAULTS } from '../../src/node/options.js';

const REQUIRED = ['--id', 'n1', '--api', '127.0.0.1:7001', '--peer', '127.0.0.1:7101', '--data', './data/n1'];

describe('dynakv start flags', () => {
  it('fills every default from NODE_DEFAULTS, seeds default to the own peer', () => {
    expect(parseStartArgv(REQUIRED, {})).toEqual({
      id: 'n1',
      api: '127.0.0.1:7001',
      peer: '127.0.0.1:7101',
      seeds: ['127.0.0.1:7101'],
      data: './data/n1',
      zone: undefined,
      ...NODE_DEFAULTS,
    });
  });

  it('parses every flag', () => {
    const opts = parseStartArgv(
      [
        ...REQUIRED,
        '--seeds', '127.0.0.1:7101,127.0.0.1:7102, 127.0.0.1:7102',
        '--replicas', '2', '--partitions', '64', '--zone', 'z1', '--sync', 'none',
        '--hinted-handoff', 'off', '--anti-entropy', 'off', '--max-value-bytes', '4096',
        '--tombstone-grace', '1h30m', '--fault-injection', '--log-level', 'debug',
      ],
      {},
    );
    expect(opts).toMatchObject({
      seeds: ['127.0.0.1:7101', '127.0.0.1:7102'],
      replicas: 2,
      partitions: 64,
      zone: 'z1',
      sync: 'none',
      hintedHandoff: false,
      antiEntropy: false,
      maxValueBytes: 4096,
      tombstoneGraceMs: 90 * 60_000,
      faultInjection: true,
      logLevel: 'debug',
    });
  });

  it('reads every flag from DYNAKV_* env vars', () => {
    const env = {
      DYNAKV_ID: 'n7', DYNAKV_API: '127.0.0.1:7007', DYNAKV_PEER: '127.0.0.1:7107', DYNAKV_DATA: '/d',
      DYNAKV_SEEDS: '127.0.0.1:7101', DYNAKV_REPLICAS: '5', DYNAKV_PARTITIONS: '1024', DYNAKV_ZONE: 'z2',
      DYNAKV_SYNC: 'none', DYNAKV_HINTED_HANDOFF: 'off', DYNAKV_ANTI_ENTROPY: 'false',
      DYNAKV_MAX_VALUE_BYTES: '10', DYNAKV_TOMBSTONE_GRACE: '10s', DYNAKV_FAULT_INJECTION: '1', DYNAKV_LOG_LEVEL: 'warn',
    };
    expect(parseStartArgv([], env)).toEqual({
      id: 'n7', api: '127.0.0.1:7007', peer: '127.0.0.1:7107', data: '/d', seeds: ['127.0.0.1:7101'],
      replicas: 5, partitions: 1024, zone: 'z2', sync: 'none', hintedHandoff: false, antiEntropy: false,
      maxValueBytes: 10, tombstoneGraceMs: 10_000, faultInjection: true, logLevel: 'warn',
    });
  });

  it('flags win over env vars; empty env vars count as unset', () => {
    const env = { DYNAKV_ID: 'envid', DYNAKV_REPLICAS: '5', DYNAKV_HINTED_HANDOFF: 'off', DYNAKV_ZONE: '' };
    const opts = parseStartArgv([...REQUIRED, '--replicas', '2', '--hinted-handoff', 'on'], env);
    expect(opts).toMatchObject({ id: 'n1', replicas: 2, hintedHandoff: true, zone: undefined });
  });

  it('names env vars DYNAKV_<FLAG_IN_UPPER_SNAKE>', () => {
    expect(START_FLAGS.map((f) => envName(f.name))).toContain('DYNAKV_HINTED_HANDOFF');
    expect(envName('max-value-bytes')).toBe('DYNAKV_MAX_VALUE_BYTES');
    expect(camelName('tombstone-grace')).toBe('tombstoneGrace');
  });

  it.each([
    [['--id', 'n1'], /missing required options: --api .*DYNAKV_API.*--peer.*--data/],
    [[...REQUIRED, '--replicas', '0'], /--replicas: "0" is not an integer in 1\.\.16/],
    [[...REQUIRED, '--replicas', '2.5'], /--replicas/],
    [[...REQUIRED, '--partitions', '100'], /not a power of two/],
    [[...REQUIRED, '--partitions', '4'], /--partitions/],
    [[...REQUIRED, '--sync', 'sometimes'], /--sync: "sometimes" is not one of fsync\|none/],
    [[...REQUIRED, '--hinted-handoff', 'maybe'], /--hinted-handoff: "maybe" is not on\|off/],
    [[...REQUIRED, '--tombstone-grace', '1 hour'], /--tombstone-grace/],
    [[...REQUIRED, '--log-level', 'loud'], /--log-level/],
    [[...REQUIRED, '--max-value-bytes', '-1'], /--max-value-bytes/],
    [[...REQUIRED, '--seeds', ','], /--seeds/],
    [['--id', 'n 1', '--api', '127.0.0.1:7001', '--peer', '127.0.0.1:7101', '--data', 'd'], /--id/],
    [[...REQUIRED, '--bogus'], /unknown option '--bogus'/],
    [[...REQUIRED, 'extra'], /too many arguments|unexpected/i],
  ])('rejects %j', (argv, message) => {
    expect(() => parseStartArgv(argv, {})).toThrow(UsageError);
    expect(() => parseStartArgv(argv, {})).toThrow(message);
  });

  it('validates env values like flags', () => {
    expect(() => resolveStartOptions({}, { DYNAKV_ID: 'n1', DYNAKV_API: 'nope', DYNAKV_PEER: 'h:1', DYNAKV_DATA: 'd' })).toThrow(
      /--api: "nope" is not host:port/,
    );
  });
});

describe('value parsers', () => {
  it('host:port', () => {
    expect(parseHostPort('api', 'localhost:80')).toBe('localhost:80');
    expect(parseHostPort('api', '[::1]:7001')).toBe('[::1]:7001');
    expect(() => parseHostPort('api', '127.0.0.1')).toThrow(UsageError);
    expect(() => parseHostPort('api', '127.0.0.1:0')).toThrow(UsageError);
    expect(() => parseHostPort('api', '127.0.0.1:65536')).toThrow(UsageError);
  });

  it('durations: plain ms or unit terms', () => {
    expect(parseDuration('g', '1500')).toBe(1500);
    expect(parseDuration('g', '1h')).toBe(3_600_000);
    expect(parseDuration('g', '30m')).toBe(1_800_000);
    expect(parseDuration('g', '10s')).toBe(10_000);
    expect(parseDuration('g', '250ms')).toBe(250);
    expect(parseDuration('g', '1d2h')).toBe(26 * 3_600_000);
    expect(() => parseDuration('g', '1.5h')).toThrow(UsageError);
    expect(() => parseDuration('g', 'h')).toThrow(UsageError);
  });

  it('quorum levels', () => {
    expect(parseQuorum('r', 'QUORUM')).toBe('quorum');
    expect(parseQuorum('w', '02')).toBe('2');
    expect(() => parseQuorum('w', 'most')).toThrow(/--w/);
    expect(() => parseQuorum('w', '17')).toThrow(/--w/);
  });
});

describe('cluster layout', () => {
  it('node i: API base+i, peer base+100+i', () => {
    expect(nodeLayout(3, 7000)).toEqual({ id: 'n3', index: 3, api: '127.0.0.1:7003', peer: '127.0.0.1:7103' });
    expect(() => nodeLayout(100, 7000)).toThrow(UsageError);
  });

  it('base port from DYNAKV_CLUSTER_BASE_PORT, default 7000', () => {
    expect(clusterBasePort({})).toBe(7000);
    expect(clusterBasePort({ DYNAKV_CLUSTER_BASE_PORT: '21000' })).toBe(21000);
    expect(() => clusterBasePort({ DYNAKV_CLUSTER_BASE_PORT: '65400' })).toThrow(UsageError);
    expect(() => clusterBasePort({ DYNAKV_CLUSTER_BASE_PORT: 'x' })).toThrow(UsageError);
  });

  it('node flags after `cluster up --` are checked, managed ones refused', () => {
    expect(validateNodeFlags(['--replicas', '2', '--sync', 'none'])).toEqual(['--replicas', '2', '--sync', 'none']);
    expect(() => validateNodeFlags(['--sync', 'never'])).toThrow(/--sync/);
    expect(() => validateNodeFlags(['--id', 'x'])).toThrow(/set by the cluster manager/);
    expect(() => validateNodeFlags(['--data=/x'])).toThrow(/set by the cluster manager/);
    expect(() => validateNodeFlags(['--nope'])).toThrow(/unknown option/);
  });
});

describe('partition plan', () => {
  const ids = ['n1', 'n2', 'n3', 'n4'];

  it('cuts every group off from the others, leaves unnamed nodes connected', () => {
    const plan = partitionPlan(['n1,n2', 'n3'], ids);
    expect(Object.fromEntries(plan)).toEqual({ n1: ['n3'], n2: ['n3'], n3: ['n1', 'n2'], n4: [] });
  });

  it('one group: it against the rest', () => {
    const plan = partitionPlan(['n2'], ids);
    expect(Object.fromEntries(plan)).toEqual({ n1: ['n2'], n2: ['n1', 'n3', 'n4'], n3: ['n2'], n4: ['n2'] });
  });

  it('rejects unknown ids, repeats and empty groups', () => {
    expect(() => partitionPlan(['n1', 'n9'], ids)).toThrow(/unknown node n9/);
    expect(() => partitionPlan(['n1,n2', 'n2'], ids)).toThrow(/more than one group/);
    expect(() => partitionPlan([','], ids)).toThrow(UsageError);
    expect(() => partitionPlan([], ids)).toThrow(UsageError);
  });
});
