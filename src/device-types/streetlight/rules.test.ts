/** CONTRACT §5: the streetlight's shipped rules (`rules.json`), reading by reading. */
import { device } from '../../dispatch/testing/fixtures.js';
import { NIGHT, NOON, describeRuleCases, type Fields, type RuleCase } from '../../dispatch/testing/shipped-rules.js';

const lamp = device({ id: 'light-1', type: 'streetlight', attributes: { powerRating: 60 } });
const lampFields = (f: Fields = {}): Fields => ({ powerState: 'off', ...f });

const cases: [string, RuleCase][] = [
  [
    'status ≠ ok → light.repair',
    { rule: 'light.repair', device: lamp, start: NIGHT, steps: [[0, lampFields({ status: 'ok' }), []], [1, lampFields({ status: 'brokenLantern' }), ['raised light.repair']]] },
  ],
  [
    'on and under 10 % of powerRating for 15 min → light.out',
    {
      rule: 'light.out',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
        [1, lampFields({ powerState: 'on', powerConsumption: 5.9 }), []],
        [15, lampFields({ powerState: 'on', powerConsumption: 3 }), []],
        [16, lampFields({ powerState: 'on', powerConsumption: 3 }), ['raised light.out']],
        [60, lampFields({ powerState: 'on', powerConsumption: 57 }), ['cleared light.out']],
      ],
    },
  ],
  [
    'lamp on while the sun is up for 30 min → light.dayburner',
    {
      rule: 'light.dayburner',
      device: lamp,
      start: NOON,
      steps: [
        [0, lampFields({ powerState: 'low', powerConsumption: 30 }), []],
        [30, lampFields({ powerState: 'low', powerConsumption: 30 }), ['raised light.dayburner']],
        [40, lampFields({ powerState: 'off', powerConsumption: 0.5 }), ['cleared light.dayburner']],
      ],
    },
  ],
  [
    'lamp on at night is no day-burner',
    {
      rule: 'light.dayburner',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
        [60, lampFields({ powerState: 'on', powerConsumption: 58 }), []],
      ],
    },
  ],
  [
    'voltage outside 207..253 V → light.electrical',
    {
      rule: 'light.electrical',
      device: lamp,
      start: NIGHT,
      steps: [
        [0, lampFields({ voltage: 207 }), []],
        [1, lampFields({ voltage: 206.9 }), ['raised light.electrical']],
        [2, lampFields({ voltage: 230 }), ['cleared light.electrical']],
        [3, lampFields({ voltage: 253.1 }), ['raised light.electrical']],
      ],
    },
  ],
];

describeRuleCases('streetlight rules (CONTRACT §5)', cases);
